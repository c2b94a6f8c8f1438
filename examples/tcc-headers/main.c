/* main.c: compiled and run by `tcc -run`; its settings are in config.h. */
#include <stdio.h>

#include "config.h"
#include "shapes.h"

int main(void)
{
	for (int i = 1; i <= ROWS; i++)
		printf("%s\n", shapes_row(i, SYMBOL));
	printf("%d rows of '%s'\n", ROWS, SYMBOL);
	return 0;
}
