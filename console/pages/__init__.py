"""The console's pages, one module per page; ``routers`` is what the app mounts."""

from console.pages import alerts, customer, customer_edit, customers, identities, people, segments, today

routers = [today.router, customers.router, customer.router, customer_edit.router, alerts.router, segments.router,
           people.router,
           identities.router]
