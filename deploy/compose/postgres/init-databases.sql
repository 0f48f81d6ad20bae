-- Runs once, when the postgres container initialises an empty data volume.
-- One database and one login role per service (the console's holds sessions only): each service
-- owns its data and cannot connect to another service's database. DEVELOPMENT ONLY passwords (they are in compose.yaml too).
-- `<svc> migrate` would create a missing database itself; creating them here lets each service
-- run as its own non-superuser role.

CREATE ROLE case_svc LOGIN PASSWORD 'case-svc-dev';
CREATE ROLE activity_svc LOGIN PASSWORD 'activity-svc-dev';
CREATE ROLE automation_svc LOGIN PASSWORD 'automation-svc-dev';
CREATE ROLE notify_svc LOGIN PASSWORD 'notify-svc-dev';
CREATE ROLE intake_svc LOGIN PASSWORD 'intake-svc-dev';
CREATE ROLE console_svc LOGIN PASSWORD 'console-svc-dev';

CREATE DATABASE casestream_case OWNER case_svc;
CREATE DATABASE casestream_activity OWNER activity_svc;
CREATE DATABASE casestream_automation OWNER automation_svc;
CREATE DATABASE casestream_notify OWNER notify_svc;
CREATE DATABASE casestream_intake OWNER intake_svc;
CREATE DATABASE casestream_console OWNER console_svc; -- the console's sessions only

REVOKE CONNECT ON DATABASE casestream_case FROM PUBLIC;
REVOKE CONNECT ON DATABASE casestream_activity FROM PUBLIC;
REVOKE CONNECT ON DATABASE casestream_automation FROM PUBLIC;
REVOKE CONNECT ON DATABASE casestream_notify FROM PUBLIC;
REVOKE CONNECT ON DATABASE casestream_intake FROM PUBLIC;
REVOKE CONNECT ON DATABASE casestream_console FROM PUBLIC;
