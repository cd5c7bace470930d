"""Outbound HTTP clients (Ed-Fi ODS/API pull, agency delivery). Only this layer calls partners."""
