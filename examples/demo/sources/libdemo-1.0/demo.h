/* libdemo: a tiny shared library for mason's demo catalog. */
#ifndef DEMO_H
#define DEMO_H

#define DEMO_VERSION "1.0"

/* A greeting naming the library and its version (static storage). */
const char *demo_greeting(void);

#endif
