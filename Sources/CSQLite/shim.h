// CSQLite: the system's SQLite 3 (Debian: libsqlite3-dev), found through pkg-config, for groupcache-node's
// sample database.
//
// Why this shim exists: a module map names headers by a path relative to itself, and sqlite3.h lives wherever
// the system put it. Including it here by name lets the compiler find it on pkg-config's include path.
// SQLITE_TRANSIENT is a cast of -1 to a function pointer, which Swift cannot import; gc_sqlite_bind_text binds
// a copy of the text without it.
#ifndef GC_CSQLITE_SHIM_H
#define GC_CSQLITE_SHIM_H

#include <sqlite3.h>

static inline int gc_sqlite_bind_text(sqlite3_stmt *statement, int index, const char *text, int length) {
    return sqlite3_bind_text(statement, index, text, length, SQLITE_TRANSIENT);
}

#endif
