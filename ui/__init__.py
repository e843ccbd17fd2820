"""Panel apps: executive, operations and customer dashboards, and the investigator console.

Not built yet; they arrive with the analytics and case-management issues.
"""
