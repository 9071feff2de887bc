module electric_sync/test/oversync/wire

go 1.22
