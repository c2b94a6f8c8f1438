/*
 * tests/progs/startid.c — which exec a run comes from: prints the 16 bytes the kernel
 * gave this program at exec (AT_RANDOM, new for every exec; a copy of a checkpoint
 * keeps its run's) and exits 0. Reads no file: a helper session serves it from the
 * start checkpoint alone (tests/system/test_helper_keep.c).
 */
#include <stdio.h>
#include <sys/auxv.h>

int main(void)
{
	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
	printf("exec ");
	for (int i = 0; r && i < 16; i++)
		printf("%02x", r[i]);
	printf("\n");
	return 0;
}
