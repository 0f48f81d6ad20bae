"""``notify-svc serve`` runs the service; ``notify-svc migrate`` brings its database up to date."""

from casestream.service import command_line

main = command_line("notify_svc")

if __name__ == "__main__":
    main()
