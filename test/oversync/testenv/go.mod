module electric_sync/test/oversync/testenv

go 1.22
