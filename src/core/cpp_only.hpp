// Include first in every .cpp of src/core/ and src/svc/: these files are pure C++ (they run on
// HTTP/DB threads or in unit tests) and must never see a Postgres server header.
#pragma once
#if defined(PG_VERSION_NUM) || defined(POSTGRES_H) || defined(C_H)
#error "pure C++ file: Postgres server headers are not allowed here (see docs/architecture.md)"
#endif
