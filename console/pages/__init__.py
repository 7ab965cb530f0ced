"""The console's pages, one module per page; ``routers`` is what the app mounts."""

from console.pages import alerts, customer, customers, followups, people, segments, today

routers = [today.router, customers.router, customer.router, alerts.router, segments.router, people.router,
           followups.router]
