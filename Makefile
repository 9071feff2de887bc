# electric_sync: PGXS build (C++17).
EXTENSION   = electric_sync
EXTVERSION  = 0.3.0
MODULE_big  = electric_sync

# Every .cpp under src/ is part of the shared library (extension + output plugin + worker).
# Folders follow the data flow (docs/architecture.md). Two sides, and a barrier between them:
#  * Postgres side (the worker's main thread and the backends): may include server headers.
#  * Thread side (I/O and pool threads) and src/core/ (pure C++, unit-tested without a server):
#    compiled WITHOUT the server include path, with src/barrier/ first, so any Postgres server
#    header there fails the build with a message that says why (test/barrier/run.sh proves it).
PG_DIRS     = pg extension decode shape engine worker
THREAD_DIRS = http hub pool serve oversync synckit
SRC_DIRS    = $(patsubst src/%/,%,$(sort $(dir $(wildcard src/*/*.cpp src/*/*.hpp src/*/*.h))))
ifneq ($(filter-out $(PG_DIRS) $(THREAD_DIRS) core barrier,$(SRC_DIRS)),)
$(error src/ folders not assigned to a side in the Makefile: $(filter-out $(PG_DIRS) $(THREAD_DIRS) core barrier,$(SRC_DIRS)))
endif
ifneq ($(wildcard src/*.cpp src/*.hpp),)
$(error sources directly under src/ ($(wildcard src/*.cpp src/*.hpp)): put them in a folder of their side)
endif
CORE_SRCS   = $(sort $(wildcard src/core/*/*.cpp))
THREAD_SRCS = $(sort $(foreach d,$(THREAD_DIRS),$(wildcard src/$(d)/*.cpp)))
PG_SRCS     = $(sort $(foreach d,$(PG_DIRS),$(wildcard src/$(d)/*.cpp)))
OBJS        = $(PG_SRCS:.cpp=.o) $(THREAD_SRCS:.cpp=.o) $(CORE_SRCS:.cpp=.o)

# The install script is assembled from sql/install/*.sql (one file per area, applied in name order).
DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA        = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

# pg_regress: explicit list from test/schedule ("test: name" lines), temp instance with our config.
REGRESS      = $(shell sed -n 's/^test: *//p' test/schedule)
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=test/regress/regress.conf --port=$(or $(REGRESS_PORT),54390)
# pg_isolation_regress: every test/isolation/specs/*.spec (expected output in test/isolation/expected/).
ISOLATION      = $(sort $(basename $(notdir $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=tmp_check_iso --temp-config=test/regress/regress.conf \
                 --port=$(or $(ISOLATION_PORT),54391)

PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
PG_CXXFLAGS = -Werror -DES_EXT_VERSION='"$(EXTVERSION)"' -MMD -MP -std=c++17 -Wno-register -Wall -Wno-unused-parameter -fvisibility-inlines-hidden -DBOOST_ERROR_CODE_HEADER_ONLY
SHLIB_LINK  = $(libpq) -lstdc++ -pthread -lssl -lcrypto
EXTRA_CLEAN = output_iso tmp_check_iso $(DATA_built) $(OBJS:.o=.d) test/unit/unit_tests test/unit/build test/unit/hub_tsan test/unit/build-tsan tmp_check results regression.diffs regression.out \
              test/fuzz/build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
# Debian's PG is built with LLVM; PGXS would compile C++17 bitcode without our flags. No JIT bitcode.
override with_llvm = no
include $(PGXS)

# Header dependencies (PGXS does not track them).
-include $(OBJS:.o=.d)

# The barrier: thread-side and core objects see no server include directory.
BARRIER_CPPFLAGS = -I$(srcdir)/src/barrier $(filter-out -I$(includedir_server) -I$(includedir_internal),$(CPPFLAGS))
$(THREAD_SRCS:.cpp=.o) $(CORE_SRCS:.cpp=.o): %.o: %.cpp
	$(CXX) $(CXXFLAGS) $(BARRIER_CPPFLAGS) -c -o $@ $<

sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# ---- pure C++ unit tests (Catch2, no server): one object per file, so `make -j` parallelizes ----
UNIT_SRCS = $(sort $(wildcard test/unit/*.cpp))
UNIT_CXXFLAGS = -std=c++17 -O1 -g -Wall -Werror -Isrc -fsanitize=address,undefined -fno-omit-frame-pointer -MMD -MP
UNIT_OBJS = $(patsubst %.cpp,test/unit/build/%.o,$(notdir $(UNIT_SRCS))) \
            $(patsubst src/core/%.cpp,test/unit/build/core/%.o,$(CORE_SRCS))
test/unit/build/%.o: test/unit/%.cpp
	@mkdir -p $(@D)
	$(CXX) $(UNIT_CXXFLAGS) -c -o $@ $<
# Catch2's runner (third-party code: its std::regex trips GCC 12's maybe-uninitialized warning).
test/unit/build/main.o test/unit/build-tsan/test/unit/main.o: UNIT_CXXFLAGS += -Wno-error=maybe-uninitialized
test/unit/build-tsan/test/unit/main.o: TSAN_CXXFLAGS += -Wno-error=maybe-uninitialized
test/unit/build/core/%.o: src/core/%.cpp
	@mkdir -p $(@D)
	$(CXX) $(UNIT_CXXFLAGS) -Isrc/barrier -c -o $@ $<
-include $(UNIT_OBJS:.o=.d)
test/unit/unit_tests: $(UNIT_OBJS)
	$(CXX) $(UNIT_CXXFLAGS) -o $@ $(UNIT_OBJS) -lssl -lcrypto -pthread

# ---- the hub under ThreadSanitizer (its own binary: TSan does not combine with ASan) ----
TSAN_CXXFLAGS = -std=c++17 -O1 -g -Wall -Werror -Isrc -Isrc/barrier -fsanitize=thread -fno-omit-frame-pointer -MMD -MP
TSAN_SRCS = test/unit/main.cpp $(sort $(wildcard test/unit/tsan/*.cpp)) src/hub/shape_hub.cpp $(CORE_SRCS)
TSAN_OBJS = $(patsubst %.cpp,test/unit/build-tsan/%.o,$(TSAN_SRCS))
test/unit/build-tsan/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(TSAN_CXXFLAGS) -c -o $@ $<
-include $(TSAN_OBJS:.o=.d)
test/unit/hub_tsan: $(TSAN_OBJS)
	$(CXX) $(TSAN_CXXFLAGS) -o $@ $(TSAN_OBJS) -lssl -lcrypto -pthread

.PHONY: unit unit-tsan demo demo-stop example test fuzz
unit:
	$(MAKE) -j$$(nproc) test/unit/unit_tests
	./test/unit/unit_tests
unit-tsan:
	$(MAKE) -j$$(nproc) test/unit/hub_tsan
	TSAN_OPTIONS=halt_on_error=1 ./test/unit/hub_tsan

demo:
	bash scripts/demo.sh start

demo-stop:
	bash scripts/demo.sh stop

# The todo app of examples/todo against the demo cluster (make demo first): serves it, prints the URL.
example:
	bash examples/todo/run.sh

# A PGXN release zip of HEAD (docs/install.md): the tracked files plus the assembled install
# script, under electric_sync-<version>/.
DIST = $(EXTENSION)-$(EXTVERSION).zip
.PHONY: dist deb
dist: sql/$(EXTENSION)--$(EXTVERSION).sql
	rm -f $(DIST)
	git archive --format=zip --prefix=$(EXTENSION)-$(EXTVERSION)/sql/ --add-file=sql/$(EXTENSION)--$(EXTVERSION).sql \
	  --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(DIST) HEAD
	@echo "built $(DIST)"

# The Debian package(s) for the PostgreSQL versions in debian/pgversions (pg_buildext), into
# dist/; scripts/deb.sh installs the build tools it lacks.
deb:
	bash scripts/deb.sh

test:
	bash scripts/test.sh

# ---- libFuzzer targets (clang; docs/fuzzing.md): every test/fuzz/fuzz_*.cpp, FUZZ_SECONDS each ----
FUZZ_SECONDS ?= 60
fuzz:
	bash test/fuzz/run.sh $(FUZZ_SECONDS)

# The pg_regress config: add electric_sync to output_plugin_libraries only where the server has
# that setting (15.19+); an unknown setting would stop an older server from starting.
PG_BINDIR := $(shell $(PG_CONFIG) --bindir)
test/regress/regress.conf: test/regress/regress.conf.in
	cp $< $@
	if grep -qa output_plugin_libraries $(PG_BINDIR)/postgres; then \
	  echo "output_plugin_libraries = 'pgoutput, test_decoding, electric_sync'" >> $@; fi
installcheck: test/regress/regress.conf

# The barrier's compile command and the files behind it (test/barrier/run.sh).
.PHONY: barrier-compile-cmd barrier-sources barrier-server-include
barrier-compile-cmd:
	@echo $(CXX) $(CXXFLAGS) $(BARRIER_CPPFLAGS)
barrier-sources:
	@echo $(THREAD_SRCS) $(CORE_SRCS)
barrier-server-include:
	@echo $(includedir_server)

# C++ formatting (.clang-format): `make format` rewrites our sources in place.
FORMAT_SRCS = $(shell git ls-files 'src/*.cpp' 'src/*.hpp' 'test/unit/*.cpp' 'test/fuzz/*.cpp' 'test/fuzz/*.hpp' 'test/barrier/*.cpp' 'bench/*.cpp' 2>/dev/null)
.PHONY: format
format:
	clang-format -i $(FORMAT_SRCS)
