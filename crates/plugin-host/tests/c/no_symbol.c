/* A shared library that is not a rapport plugin: no entry symbol. */
int rapport_something_else(void) { return 42; }
