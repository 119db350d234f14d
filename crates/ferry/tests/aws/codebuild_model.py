"""Holds ferry's CodeBuild wire format to the installed botocore's model.

    python3 codebuild_model.py [SAMPLES.json]

1. crates/ferry-aws/codebuild-model-inputs.json (which ferry-aws's unit
   tests hold every CodeBuild input struct and enum to) must say what
   botocore's codebuild/2016-10-06 model says: each operation's input
   members, every nested input shape's members, every string enum.
2. SAMPLES.json, `{"<Operation>": [<answer body>, ...]}` (written by
   ferry-aws's tests/codebuild_botocore.rs from the output structs, and by
   ferry-server's tests/codebuild_api.rs from a real server's answers), must
   match each operation's output shape (shapecheck.py: no unknown member,
   right types, enum values, required members); an error answer (one with
   `__type`) must name an exception the operation declares.

Needs no server. Exit status 0 only if nothing disagrees.
"""

import json
import os
import sys

import botocore.session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import shapecheck  # noqa: E402

INPUTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "ferry-aws",
                           "codebuild-model-inputs.json")


def model():
    return botocore.session.get_session().get_service_model("codebuild")


def input_problems(path=INPUTS_FILE):
    with open(path) as f:
        ours = json.load(f)
    service = model()
    problems = []
    shapes, enums = {}, {}

    def walk(shape):
        if shape.type_name == "structure":
            if shape.name in shapes:
                return
            shapes[shape.name] = list(shape.members)
            for member in shape.members.values():
                walk(member)
        elif shape.type_name == "list":
            walk(shape.member)
        elif shape.type_name == "map":
            walk(shape.key)
            walk(shape.value)
        elif shape.type_name == "string" and shape.enum:
            enums[shape.name] = list(shape.enum)

    for name, members in ours["operations"].items():
        if name not in service.operation_names:
            problems.append(f"{name} is not an operation of botocore's model")
            continue
        shape = service.operation_model(name).input_shape
        if members != list(shape.members):
            problems.append(f"{name}: ours {members}, botocore {list(shape.members)}")
        for member in shape.members.values():
            walk(member)
    for what, mine, theirs in (("shapes", ours["shapes"], shapes), ("enums", ours["enums"], enums)):
        for name in sorted(set(mine) | set(theirs)):
            if mine.get(name) != theirs.get(name):
                problems.append(f"{what} {name}: ours {mine.get(name)}, botocore {theirs.get(name)}")
    return problems


def sample_problems(path):
    with open(path) as f:
        samples = json.load(f)
    service = model()
    problems = []
    for name, bodies in samples.items():
        operation = service.operation_model(name)
        for i, body in enumerate(bodies):
            # An error answer (`__type`) must name an exception the operation declares.
            status = 400 if isinstance(body, dict) and "__type" in body else 200
            for problem in shapecheck.check_response(operation, status, json.dumps(body)):
                problems.append(f"{name}[{i}]: {problem}")
    return problems


def main():
    problems = input_problems()
    if len(sys.argv) > 1:
        problems += sample_problems(sys.argv[1])
    for problem in problems:
        print(problem)
    print(f"{len(problems)} disagreements with botocore {botocore.__version__}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
