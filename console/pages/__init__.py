"""The console's pages, one module per page; ``routers`` is what the app mounts."""

from console.pages import (
    acquisition,
    alerts,
    category,
    credit,
    credit_standings,
    customer,
    customer_edit,
    customers,
    duplicates,
    followups,
    identities,
    imports,
    orders,
    people,
    pool,
    receivables,
    sales,
    segments,
    ticket_admin,
    ticket_detail,
    ticket_reports,
    tickets,
    today,
)

routers = [today.router, customers.router, customer.router, customer_edit.router, identities.router, category.router,
           alerts.router, segments.router, acquisition.router, people.router, pool.router, duplicates.router,
           imports.router, followups.router, orders.router, receivables.router, credit.router,
           credit_standings.router, sales.router, ticket_admin.router, ticket_reports.router,
           tickets.router, ticket_detail.router]
