"""``case-svc serve`` runs the service; ``case-svc migrate`` brings its database up to date."""

from casestream.service import command_line

main = command_line("case_svc")

if __name__ == "__main__":
    main()
