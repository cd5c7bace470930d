"""Data for the Ed-Fi XML -> resource JSON conversion: which record elements become which
resources, which are known but not turned into records, and the few names the generic rules
in ``edfi_xml_convert`` get wrong (each checked against the DS 5.0 OpenAPI)."""

from __future__ import annotations

PLURALS: dict[str, str] = {"diagnosis": "diagnoses", "staff": "staffs"}
# (XSD type, child element) -> JSON key, where camelCase of the element name is not the key
KEYS: dict[tuple[str, str], str] = {("StudentAssessment", "AssessmentPeriod"): "period"}
# (XSD type, child element) -> JSON array name, where the plural of the key is not it
ARRAYS: dict[tuple[str, str], str] = {
    ("SpecialEducationProgramService", "ServiceProvider"): "providers",
    ("ObjectiveAssessment", "AssessmentPerformanceLevel"): "performanceLevels",
    ("ObjectiveAssessment", "AssessmentScore"): "scores",
}
# (XSD type, child element) of single grouping elements that stay a nested object
NESTED: set[tuple[str, str]] = {
    ("Assessment", "ContentStandard"),
    ("StudentAssessment", "AssessmentPeriod"),
    ("RequiredAssessment", "RequiredAssessmentPerformanceLevel"),
}
# (XSD type, child element) of single grouping elements flattened with a prefix on their keys
INLINE_PREFIXES: dict[tuple[str, str], str] = {("GraduationPlan", "TotalRequiredCredits"): "totalRequired"}
# reference type -> {flattened key -> JSON key}
REFERENCE_KEYS: dict[str, dict[str, str]] = {}

# record element -> Ed-Fi API resource; its JSON is the resource body (DS 5.x OpenAPI shape)
RESOURCES: dict[str, str] = {
    # Student, StudentHealth
    "Student": "students",
    "StudentHealth": "studentHealths",
    # StudentEnrollment
    "StudentSchoolAssociation": "studentSchoolAssociations",
    "StudentSectionAssociation": "studentSectionAssociations",
    "StudentEducationOrganizationAssociation": "studentEducationOrganizationAssociations",
    "StudentEducationOrganizationResponsibilityAssociation": (
        "studentEducationOrganizationResponsibilityAssociations"
    ),
    # StudentAttendance
    "StudentSchoolAttendanceEvent": "studentSchoolAttendanceEvents",
    "StudentSectionAttendanceEvent": "studentSectionAttendanceEvents",
    "StudentProgramAttendanceEvent": "studentProgramAttendanceEvents",
    "StudentInterventionAttendanceEvent": "studentInterventionAttendanceEvents",
    # StudentGrade, StudentGradebook
    "Grade": "grades",
    "GradebookEntry": "gradebookEntries",
    "StudentGradebookEntry": "studentGradebookEntries",
    # StudentProgram
    "StudentProgramAssociation": "studentProgramAssociations",
    "StudentSpecialEducationProgramAssociation": "studentSpecialEducationProgramAssociations",
    "StudentSection504ProgramAssociation": "studentSection504ProgramAssociations",
    "StudentHomelessProgramAssociation": "studentHomelessProgramAssociations",
    "StudentLanguageInstructionProgramAssociation": "studentLanguageInstructionProgramAssociations",
    "StudentTitleIPartAProgramAssociation": "studentTitleIPartAProgramAssociations",
    "StudentSchoolFoodServiceProgramAssociation": "studentSchoolFoodServiceProgramAssociations",
    "StudentCTEProgramAssociation": "studentCTEProgramAssociations",
    "StudentMigrantEducationProgramAssociation": "studentMigrantEducationProgramAssociations",
    "StudentNeglectedOrDelinquentProgramAssociation": "studentNeglectedOrDelinquentProgramAssociations",
    # StudentAssessment, AssessmentMetadata
    "StudentAssessment": "studentAssessments",
    "Assessment": "assessments",
    "ObjectiveAssessment": "objectiveAssessments",
    # StudentDiscipline
    "DisciplineIncident": "disciplineIncidents",
    "DisciplineAction": "disciplineActions",
    "StudentDisciplineIncidentBehaviorAssociation": "studentDisciplineIncidentBehaviorAssociations",
    "StudentDisciplineIncidentNonOffenderAssociation": "studentDisciplineIncidentNonOffenderAssociations",
    # StudentIntervention
    "Intervention": "interventions",
    "InterventionPrescription": "interventionPrescriptions",
    "StudentInterventionAssociation": "studentInterventionAssociations",
}

# Every other record element of a supported interchange is known and deliberately not turned
# into a record (counted, not reported): staff data, master data the plan does not use (graduation
# plans, report cards, competency objectives, education content, restraint events, ...), and
# interchange-level references. Their JSON would need role-named reference keys the XSD does
# not carry (e.g. reportCards' gradingPeriodSchoolYear), so they are left out rather than guessed.
