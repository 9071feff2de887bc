module electric_sync/examples/oversync-quickstart

go 1.22
