"""``activity-svc serve`` runs the service; ``activity-svc migrate`` brings its database up to date."""

from casestream.service import command_line

main = command_line("activity_svc")

if __name__ == "__main__":
    main()
