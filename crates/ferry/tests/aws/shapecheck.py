"""Checks ferry's answers against botocore's model of CodeDeploy.

Every 200 response must be exactly what the operation's output shape allows:
no member the model does not have, the right JSON type for every member,
every enum value one the model lists, required members present. Every error
must carry `__type` and `message`, and name an exception the operation
declares (or one AWS sends for any operation).
"""

import json

# Exceptions any AWS JSON service may answer with, whatever the operation.
COMMON_ERRORS = {
    "AccessDeniedException",
    "IncompleteSignatureException",
    "InternalFailure",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "SerializationException",
    "ServiceUnavailable",
    "ThrottlingException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "ValidationException",
}

# Values AWS itself returns although the SDK's enum lacks them.
ENUM_EXTRAS = {
    # GetDeploymentConfig of CodeDeployDefault.OneAtATime (documented in the API reference).
    "MinimumHealthyHostsType": {"MOST_CONCURRENCY"},
}


def check_response(operation, status, body):
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError as e:
        return [f"the body is not JSON ({e}): {body[:200]!r}"]
    if status == 200:
        if operation.output_shape is None:
            return [] if data == {} else [f"an operation without output answered {data!r}"]
        return list(check(operation.output_shape, data, "$"))
    problems = []
    code = data.get("__type", "")
    if not code:
        problems.append(f"error {status} without __type: {data!r}")
    if not isinstance(data.get("message"), str) or not data.get("message"):
        problems.append(f"error {code} without a message")
    declared = {s.name for s in operation.error_shapes}
    if code and code not in declared and code not in COMMON_ERRORS:
        problems.append(f"answered {code}, which the operation does not declare ({sorted(declared)})")
    return problems


def check(shape, value, path):
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            yield f"{path}: expected an object ({shape.name}), got {type(value).__name__}"
            return
        for name in shape.required_members:
            if name not in value:
                yield f"{path}: required member {name} of {shape.name} is missing"
        for name, member in value.items():
            if name not in shape.members:
                yield f"{path}: {shape.name} has no member {name!r}"
                continue
            yield from check(shape.members[name], member, f"{path}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            yield f"{path}: expected a list ({shape.name}), got {type(value).__name__}"
            return
        for i, item in enumerate(value):
            yield from check(shape.member, item, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            yield f"{path}: expected a map ({shape.name})"
            return
        for k, v in value.items():
            yield from check(shape.key, k, f"{path}.<key>")
            yield from check(shape.value, v, f"{path}.{k}")
    elif kind == "string":
        if not isinstance(value, str):
            yield f"{path}: expected a string ({shape.name}), got {value!r}"
            return
        allowed = set(shape.enum or []) | ENUM_EXTRAS.get(shape.name, set())
        if shape.enum and value not in allowed:
            yield f"{path}: {value!r} is not in the enum {shape.name} {sorted(allowed)}"
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            yield f"{path}: expected an integer ({shape.name}), got {value!r}"
    elif kind in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            yield f"{path}: expected a number ({shape.name}), got {value!r}"
    elif kind == "boolean":
        if not isinstance(value, bool):
            yield f"{path}: expected a boolean ({shape.name}), got {value!r}"
    elif kind == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            yield f"{path}: expected epoch seconds ({shape.name}), got {value!r}"
    else:
        yield f"{path}: unexpected shape type {kind}"
