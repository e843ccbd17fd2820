from services.analytics.server import main

main()
