"""Payloads for the edge-limit tests (tests/test_limits.py, tests/test_limits_http.py): one record
of each format with one value put where a test wants it."""

from __future__ import annotations

import io
import json
import zipfile

from gateway.formats.fhir_xml_write import to_xml


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth - 1):
        value = [value]
    return [value] if depth else value


STUDENT = {
    "studentUniqueId": "604822",
    "firstName": "Lisa",
    "lastSurname": "Woods",
    "birthDate": "2008-09-13",
}
PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Woods"}]}
USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
    "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
)
MANIFEST = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.users,bulk\n"


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return buffer.getvalue()


def edfi_json(bad: str) -> bytes:
    return json.dumps([{**STUDENT, "firstName": bad}]).encode()


def fhir_json(bad: str) -> bytes:
    return json.dumps({**PATIENT, "name": [{"family": bad}]}).encode()


def fhir_ndjson(bad: str) -> bytes:
    return json.dumps(PATIENT).encode() + b"\n" + fhir_json(bad) + b"\n"


def fhir_xml(bad: str) -> bytes:
    return to_xml({**PATIENT, "name": [{"family": bad}]})


def oneroster_csv(bad: str) -> bytes:
    row = f"900001,,,true,s-1,student,stu1,,{bad},Tester,,,,,,,10,"
    # A lone surrogate is written as the bytes a careless encoder writes (CESU-style, not UTF-8).
    users = f"{USERS_HEADER}\n{row}\n".encode("utf-8", "surrogatepass")
    return zip_of({"manifest.csv": MANIFEST.encode(), "users.csv": users})


def interchange_student(first: str, extra: str = "") -> bytes:
    return (
        '<InterchangeStudent xmlns="http://ed-fi.org/5.2.0"><Student><StudentUniqueId>604822</StudentUniqueId>'
        f"<Name><FirstName>{first}</FirstName><MiddleName>Sybil</MiddleName><LastSurname>Woods</LastSurname>"
        f"</Name>{extra}<BirthData><BirthDate>2008-09-13</BirthDate></BirthData></Student></InterchangeStudent>"
    ).encode()
