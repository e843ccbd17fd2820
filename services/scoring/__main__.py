from services.scoring.server import main

main()
