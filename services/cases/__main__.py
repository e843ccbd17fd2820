from services.cases.server import main

main()
