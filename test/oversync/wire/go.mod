module electric_sync/test/oversync/wire

go 1.22

require electric_sync/test/oversync/testenv v0.0.0

replace electric_sync/test/oversync/testenv => ../testenv
