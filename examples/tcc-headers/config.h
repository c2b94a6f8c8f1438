/* config.h: edit these and save. */
#define ROWS 3
#define SYMBOL "*"
