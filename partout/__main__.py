from partout.cli.main import main

main()
