"""Records pulled from partners' APIs (Ed-Fi ODS, OneRoster REST) and the Ed-Fi reference data."""
