"""``automation-svc serve`` runs the service; ``automation-svc migrate`` brings its database up to date."""

from casestream.service import command_line

main = command_line("automation_svc")

if __name__ == "__main__":
    main()
