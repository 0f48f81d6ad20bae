"""The console's pages, one module per area; each holds its router."""

from console_svc.pages import (
    case_actions,
    case_lists,
    case_page,
    configuration,
    contacts,
    dashboard,
    my_work,
    new_case,
    pipeline,
)

routers = [
    m.router
    for m in (
        dashboard,
        case_lists,
        case_page,
        case_actions,
        new_case,
        contacts,
        my_work,
        pipeline,
        configuration,
    )
]
