/* shapes.h: a helper in a header (tcc -run compiles one file). */
#include <string.h>

static const char *shapes_row(int n, const char *symbol)
{
	static char row[256];
	row[0] = '\0';
	for (int i = 0; i < n && strlen(row) + strlen(symbol) < sizeof row; i++)
		strcat(row, symbol);
	return row;
}
