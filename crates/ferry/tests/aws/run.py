"""Runs the CodeDeploy compatibility suite, then checks that every one of
the model's operations was called through boto3 and that no answer
disagreed with botocore's model. Exit status 0 only if all of that holds."""

import gzip
import json
import os
import sys
import unittest

import botocore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def model_operations():
    path = os.path.join(os.path.dirname(botocore.__file__), "data/codedeploy/2014-10-06/service-2.json.gz")
    with gzip.open(path) as f:
        return set(json.load(f)["operations"])


def main():
    names = sys.argv[1:] or ["test_api", "test_cli"]
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    ok = result.wasSuccessful()
    if not sys.argv[1:]:
        missing = sorted(model_operations() - harness.CALLED)
        if missing:
            print(f"\nnever called through boto3 ({len(missing)}): {', '.join(missing)}")
            ok = False
        else:
            print(f"\nall {len(harness.CALLED)} operations of the model were called")
    if harness.PROBLEMS:
        print(f"\n{len(harness.PROBLEMS)} answers disagree with botocore's model:")
        for p in harness.PROBLEMS:
            print("  " + p)
        ok = False
    else:
        print("every answer matched botocore's model")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
