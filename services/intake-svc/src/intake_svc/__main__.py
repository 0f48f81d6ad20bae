"""``intake-svc serve`` runs the service; ``intake-svc migrate`` brings its database up to date."""

from casestream.service import command_line

main = command_line("intake_svc")

if __name__ == "__main__":
    main()
