from zigznote.cli.app import main

main()
