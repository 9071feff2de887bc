module electric_sync/test/oversync

go 1.25

require (
	electric_sync/test/oversync/testenv v0.0.0
	github.com/mattn/go-sqlite3 v1.14.32
	github.com/mobiletoly/go-oversync v0.2.0
)

replace electric_sync/test/oversync/testenv => ./testenv
