"""OneRoster 1.1 / 1.2 CSV binding as data: which files the gateway reads, their defined
columns, which of them must be present and filled, and how each value is checked.

Column lists follow the 1EdTech CSV binding (1.1 final, 1.2 final) as verified against public
bundles (see ``../shared/docs/reference/edfi-oneroster.md`` section 3). Anything else in a header
is an extension column (``metadata.*``, ``ext_*`` or unknown): ignored, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSIONS: tuple[str, ...] = ("1.1", "1.2")
MODES: tuple[str, ...] = ("absent", "bulk", "delta")
# ``manifest.version`` is "1.0" in the binding; ClassLink-style exporters write "1".
MANIFEST_VERSIONS: tuple[str, ...] = ("1.0", "1")
STATUSES: tuple[str, ...] = ("active", "tobedeleted", "inactive")  # inactive: 1.0 legacy
# Delta rows with these statuses retract what the record brought instead of being mapped.
DEACTIVATING: frozenset[str] = frozenset({"tobedeleted", "inactive"})

# Files of the binding the gateway knows but does not read (resources, score scales, ...).
UNUSED_FILES: frozenset[str] = frozenset(
    {
        "resources",
        "classResources",
        "courseResources",
        "userProfiles",
        "userResources",
        "scoreScales",
        "lineItemScoreScales",
        "resultScoreScales",
        "lineItemLearningObjectiveIds",
        "resultLearningObjectiveIds",
    }
)

ROLES_11 = ("administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher")
ROLES_12 = (
    *ROLES_11,
    "districtAdministrator",
    "siteAdministrator",
    "systemAdministrator",
    "principal",
)
SCORE_STATUSES = ("exempt", "fully graded", "not submitted", "partially graded", "submitted")
# users.grades / classes.grades / courses.grades: CEDS Entry Grade Level codes (binding 3.5).
GRADES: tuple[str, ...] = (
    *("IT", "PR", "PK", "TK", "KG"),
    *(f"{n:02d}" for n in range(1, 14)),
    *("PS", "UG", "Other"),
)


@dataclass(frozen=True, kw_only=True)
class FileSpec:
    columns: tuple[str, ...]  # defined columns, in binding order
    required: tuple[str, ...]  # must be in the header and filled in every row
    enums: tuple[tuple[str, tuple[str, ...]], ...] = ()
    dates: tuple[str, ...] = ()
    booleans: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()

    def enum(self, column: str) -> tuple[str, ...] | None:
        return dict(self.enums).get(column)


_BASE = ("sourcedId", "status", "dateLastModified")

_ORGS = FileSpec(
    columns=(*_BASE, "name", "type", "identifier", "parentSourcedId"),
    required=("sourcedId", "name", "type"),
    enums=(("type", ("department", "school", "district", "local", "state", "national")),),
)
_SESSIONS = FileSpec(
    columns=(*_BASE, "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"),
    required=("sourcedId", "title", "type", "startDate", "endDate", "schoolYear"),
    enums=(("type", ("gradingPeriod", "semester", "schoolYear", "term")),),
    dates=("startDate", "endDate"),
)
_COURSES = FileSpec(
    columns=(
        *_BASE,
        "schoolYearSourcedId",
        "title",
        "courseCode",
        "grades",
        "orgSourcedId",
        "subjects",
        "subjectCodes",
    ),
    required=("sourcedId", "title", "orgSourcedId"),
)
_CLASSES = FileSpec(
    columns=(
        *_BASE,
        "title",
        "grades",
        "courseSourcedId",
        "classCode",
        "classType",
        "location",
        "schoolSourcedId",
        "termSourcedIds",
        "subjects",
        "subjectCodes",
        "periods",
    ),
    required=("sourcedId", "title", "courseSourcedId", "classType", "schoolSourcedId", "termSourcedIds"),
    enums=(("classType", ("homeroom", "scheduled")),),
)
_ENROLLMENTS = FileSpec(
    columns=(
        *_BASE,
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
        "primary",
        "beginDate",
        "endDate",
    ),
    required=("sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
    enums=(
        (
            "role",
            (
                "student",
                "teacher",
                "administrator",
                "proctor",
                "aide",
                "guardian",
                "parent",
                "relative",
                "invigilator",
            ),
        ),
    ),
    dates=("beginDate", "endDate"),
    booleans=("primary",),
)
_RACE = (
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
)
_DEMOGRAPHICS = FileSpec(
    columns=(
        *_BASE,
        "birthDate",
        "sex",
        *_RACE,
        "countryOfBirthCode",
        "stateOfBirthAbbreviation",
        "cityOfBirth",
        "publicSchoolResidenceStatus",
    ),
    required=("sourcedId",),
    enums=(("sex", ("male", "female", "other", "unspecified")),),
    dates=("birthDate",),
    booleans=_RACE,
)
_CATEGORIES_11 = FileSpec(columns=(*_BASE, "title"), required=("sourcedId", "title"))
_CATEGORIES_12 = FileSpec(
    columns=(*_BASE, "title", "weight"), required=("sourcedId", "title"), numbers=("weight",)
)
_LINE_ITEMS_11 = FileSpec(
    columns=(
        *_BASE,
        "title",
        "description",
        "assignDate",
        "dueDate",
        "classSourcedId",
        "categorySourcedId",
        "gradingPeriodSourcedId",
        "resultValueMin",
        "resultValueMax",
    ),
    required=(
        "sourcedId",
        "title",
        "assignDate",
        "dueDate",
        "classSourcedId",
        "categorySourcedId",
        "gradingPeriodSourcedId",
        "resultValueMin",
        "resultValueMax",
    ),
    dates=("assignDate", "dueDate"),
    numbers=("resultValueMin", "resultValueMax"),
)
_LINE_ITEMS_12 = FileSpec(
    columns=(
        *_LINE_ITEMS_11.columns[:9],
        "schoolSourcedId",
        "categorySourcedId",
        "gradingPeriodSourcedId",
        "academicSessionSourcedId",
        "scoreScaleSourcedId",
        "resultValueMin",
        "resultValueMax",
        "learningObjectiveSet",
    ),
    required=("sourcedId", "title", "assignDate", "dueDate", "classSourcedId", "categorySourcedId"),
    dates=("assignDate", "dueDate"),
    numbers=("resultValueMin", "resultValueMax"),
)
_RESULTS_11 = FileSpec(
    columns=(*_BASE, "lineItemSourcedId", "studentSourcedId", "scoreStatus", "score", "scoreDate", "comment"),
    required=("sourcedId", "lineItemSourcedId", "studentSourcedId", "scoreStatus", "score", "scoreDate"),
    enums=(("scoreStatus", SCORE_STATUSES),),
    dates=("scoreDate",),
    numbers=("score",),
)
_RESULTS_12 = FileSpec(
    columns=(
        *_BASE,
        "lineItemSourcedId",
        "studentSourcedId",
        "classSourcedId",
        "scoreScaleSourcedId",
        "scoreStatus",
        "score",
        "textScore",
        "scoreDate",
        "comment",
        "learningObjectiveSet",
        "inProgress",
        "incomplete",
        "late",
        "missing",
    ),
    required=("sourcedId", "lineItemSourcedId", "studentSourcedId", "scoreStatus", "scoreDate"),
    enums=(("scoreStatus", SCORE_STATUSES),),
    dates=("scoreDate",),
    numbers=("score",),
    booleans=("inProgress", "incomplete", "late", "missing"),
)
_USERS_11 = FileSpec(
    columns=(
        *_BASE,
        "enabledUser",
        "orgSourcedIds",
        "role",
        "username",
        "userIds",
        "givenName",
        "familyName",
        "middleName",
        "identifier",
        "email",
        "sms",
        "phone",
        "agentSourcedIds",
        "grades",
        "password",
    ),
    required=("sourcedId", "enabledUser", "orgSourcedIds", "role", "username", "givenName", "familyName"),
    enums=(("role", ROLES_11),),
    booleans=("enabledUser",),
)
_USERS_12 = FileSpec(
    columns=(
        *_BASE,
        "enabledUser",
        "username",
        "userIds",
        "givenName",
        "familyName",
        "middleName",
        "identifier",
        "email",
        "sms",
        "phone",
        "agentSourcedIds",
        "grades",
        "password",
        "userMasterIdentifier",
        "resourceSourcedIds",
        "preferredGivenName",
        "preferredMiddleName",
        "preferredFamilyName",
        "primaryOrgSourcedId",
        "pronouns",
    ),
    required=("sourcedId", "enabledUser", "username", "givenName", "familyName"),
    booleans=("enabledUser",),
)
_ROLES_12 = FileSpec(
    columns=(
        *_BASE,
        "userSourcedId",
        "roleType",
        "role",
        "beginDate",
        "endDate",
        "orgSourcedId",
        "userProfileSourcedId",
    ),
    required=("sourcedId", "userSourcedId", "roleType", "role", "orgSourcedId"),
    enums=(("roleType", ("primary", "secondary")), ("role", ROLES_12)),
    dates=("beginDate", "endDate"),
)

_COMMON = {
    "orgs": _ORGS,
    "academicSessions": _SESSIONS,
    "courses": _COURSES,
    "classes": _CLASSES,
    "enrollments": _ENROLLMENTS,
    "demographics": _DEMOGRAPHICS,
}
SPECS: dict[str, dict[str, FileSpec]] = {
    "1.1": {
        **_COMMON,
        "users": _USERS_11,
        "categories": _CATEGORIES_11,
        "lineItems": _LINE_ITEMS_11,
        "results": _RESULTS_11,
    },
    "1.2": {
        **_COMMON,
        "users": _USERS_12,
        "roles": _ROLES_12,
        "categories": _CATEGORIES_12,
        "lineItems": _LINE_ITEMS_12,
        "results": _RESULTS_12,
    },
}
# Read first, so the person files can be classified and joined (a result gets its line item).
REFERENCE_ORDER: tuple[str, ...] = (
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "categories",
    "lineItems",
    "roles",
)
PERSON_ORDER: tuple[str, ...] = ("users", "demographics", "enrollments", "results")
