from numaflux.cli.main import main

main()
