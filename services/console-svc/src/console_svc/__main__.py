"""``console-svc serve`` runs the console; ``console-svc migrate`` brings its database (sessions
and sign-in failures, no case data) up to date."""

from casestream.service import command_line

main = command_line("console_svc")

if __name__ == "__main__":
    main()
