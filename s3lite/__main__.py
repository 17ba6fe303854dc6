from s3lite.cli import main

main()
