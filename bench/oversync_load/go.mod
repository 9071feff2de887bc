module electric_sync/bench/oversync_load

go 1.21
