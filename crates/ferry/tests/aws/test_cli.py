"""The seeds' workflow with the real AWS CLI, unchanged but for --endpoint-url:
create an application, a deployment group of tagged on-premises instances,
push a revision to S3, deploy it with each built-in config, wait, redeploy
an earlier revision, stop a deployment with rollback; and the errors a
user meets on the way."""

import re
import unittest

from harness import (
    ACCESS_KEY,
    ROLE,
    cli,
    cli_json,
    client,
    ensure_bucket,
    host_log,
    installed_versions,
    revision_dir,
    wait_done,
    wait_for,
)

APP = "cli-shop"
BUCKET = "cli-releases"


def push(version, **kwargs):
    """`aws deploy push`; returns the --s3-location it tells the user to deploy."""
    source = revision_dir(APP, version, **kwargs)
    _, out, err = cli(
        "deploy", "push", "--application-name", APP, "--s3-location", f"s3://{BUCKET}/{version}.zip",
        "--source", source, "--description", f"release {version}",
    )
    match = re.search(r"--s3-location (\S+)", out + err)
    assert match, f"push did not say how to deploy: {out}{err}"
    return match.group(1)


def deploy(location, config="CodeDeployDefault.OneAtATime", *extra):
    return cli_json(
        "deploy", "create-deployment", "--application-name", APP, "--deployment-group-name", "web",
        "--deployment-config-name", config, "--s3-location", location, "--file-exists-behavior", "OVERWRITE",
        *extra,
    )["deploymentId"]


class CliWorkflow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_bucket(BUCKET)
        cli("deploy", "create-application", "--application-name", APP)
        cli(
            "deploy", "create-deployment-group", "--application-name", APP, "--deployment-group-name", "web",
            "--service-role-arn", ROLE,
            "--on-premises-instance-tag-filters", "Key=app,Value=demo,Type=KEY_AND_VALUE",
            "--auto-rollback-configuration", "enabled=true,events=DEPLOYMENT_FAILURE,DEPLOYMENT_STOP_ON_REQUEST",
        )
        cls.cd = client()

    def test_1_push_deploy_with_each_builtin_config_wait_and_redeploy(self):
        v1 = push("v1")
        self.assertIn("bundleType=zip", v1)
        self.assertIn("eTag=", v1)
        revisions = cli_json("deploy", "list-application-revisions", "--application-name", APP)["revisions"]
        self.assertEqual(revisions[0]["s3Location"]["key"], "v1.zip")

        # The first with the CLI's own waiter (it polls every 15 s).
        first = deploy(v1, "CodeDeployDefault.OneAtATime")
        cli("deploy", "wait", "deployment-successful", "--deployment-id", first)
        self.assertEqual(installed_versions(APP), ["v1"] * 3)
        for config in ["CodeDeployDefault.HalfAtATime", "CodeDeployDefault.AllAtOnce"]:
            d = deploy(v1, config)
            info = wait_done(self.cd, d)
            self.assertEqual(info["status"], "Succeeded", info)
            got = cli_json("deploy", "get-deployment", "--deployment-id", d)["deploymentInfo"]
            self.assertEqual(got["deploymentConfigName"], config)
            self.assertEqual(got["deploymentOverview"]["Succeeded"], 3)
            self.assertEqual(got["revision"]["s3Location"]["key"], "v1.zip")
            self.assertEqual(got["creator"], "user")

        # The hooks saw the S3 revision, as CodeDeploy's do.
        env = host_log(APP, 0, "bundle-env")
        self.assertIn(f"BUNDLE_BUCKET={BUCKET}\n", env)
        self.assertIn("BUNDLE_KEY=v1.zip\n", env)
        self.assertRegex(env, r"BUNDLE_ETAG=[0-9a-f]{32}\n")

        v2 = push("v2")
        wait_done(self.cd, deploy(v2, "CodeDeployDefault.AllAtOnce"))
        self.assertEqual(installed_versions(APP), ["v2"] * 3)

        # Redeploying an earlier revision is a plain create-deployment of it.
        d = deploy(v1, "CodeDeployDefault.AllAtOnce")
        self.assertEqual(wait_done(self.cd, d)["status"], "Succeeded")
        self.assertEqual(installed_versions(APP), ["v1"] * 3)
        group = cli_json("deploy", "get-deployment-group", "--application-name", APP, "--deployment-group-name", "web")
        self.assertEqual(group["deploymentGroupInfo"]["lastSuccessfulDeployment"]["deploymentId"], d)
        self.assertEqual(group["deploymentGroupInfo"]["targetRevision"]["s3Location"]["key"], "v1.zip")

        listed = cli_json("deploy", "list-deployments", "--application-name", APP, "--deployment-group-name", "web",
                          "--include-only-statuses", "Succeeded")["deployments"]
        self.assertIn(first, listed)
        self.assertIn(d, listed)

    def test_2_stop_with_rollback_returns_to_the_last_good_revision(self):
        slow = push("v3-slow", slow_event="ApplicationStart", slow_seconds=3)
        d = deploy(slow, "CodeDeployDefault.OneAtATime")
        wait_for("the slow deployment to run", lambda: self.cd.get_deployment(deploymentId=d)["deploymentInfo"][
            "deploymentOverview"]["InProgress"] > 0)
        stopped = cli_json("deploy", "stop-deployment", "--deployment-id", d, "--auto-rollback-enabled")
        self.assertIn(stopped["status"], ("Pending", "Succeeded"))
        info = wait_done(self.cd, d)
        self.assertEqual(info["status"], "Stopped")
        self.assertEqual(info["errorInformation"]["code"], "MANUAL_STOP")
        rollback = wait_for("the rollback to be created", lambda: self.cd.get_deployment(deploymentId=d)[
            "deploymentInfo"].get("rollbackInfo", {}).get("rollbackDeploymentId"))
        rolled = wait_done(self.cd, rollback)
        self.assertEqual(rolled["status"], "Succeeded", rolled)
        self.assertEqual(rolled["creator"], "codeDeployRollback")
        self.assertEqual(rolled["rollbackInfo"]["rollbackTriggeringDeploymentId"], d)
        self.assertEqual(installed_versions(APP), ["v1"] * 3)

        # A stopped deployment cannot be stopped again.
        code, _, err = cli("deploy", "stop-deployment", "--deployment-id", d, check=False)
        self.assertEqual(code, 255)
        self.assertIn("DeploymentAlreadyCompletedException", err)

    def test_3_a_failing_hook_fails_the_waiter_and_rolls_back(self):
        bad = push("v4-bad", fail_at="AfterInstall")
        d = deploy(bad, "CodeDeployDefault.AllAtOnce")
        wait_done(self.cd, d)
        code, _, err = cli("deploy", "wait", "deployment-successful", "--deployment-id", d, check=False)
        self.assertEqual(code, 255, err)
        self.assertIn('Waiter DeploymentSuccessful failed', err)
        self.assertIn('"Failed"', err)
        info = cli_json("deploy", "get-deployment", "--deployment-id", d)["deploymentInfo"]
        self.assertEqual(info["errorInformation"]["code"], "HEALTH_CONSTRAINTS")
        target = cli_json("deploy", "list-deployment-targets", "--deployment-id", d)["targetIds"][0]
        t = cli_json("deploy", "get-deployment-target", "--deployment-id", d, "--target-id", target)
        events = {e["lifecycleEventName"]: e for e in t["deploymentTarget"]["instanceTarget"]["lifecycleEvents"]}
        self.assertEqual(events["AfterInstall"]["status"], "Failed")
        self.assertEqual(events["AfterInstall"]["diagnostics"]["errorCode"], "ScriptFailed")
        self.assertIn("failing on purpose", events["AfterInstall"]["diagnostics"]["logTail"])
        self.assertEqual(events["ApplicationStart"]["status"], "Skipped")
        rollback = wait_for("the rollback", lambda: self.cd.get_deployment(deploymentId=d)["deploymentInfo"].get(
            "rollbackInfo", {}).get("rollbackDeploymentId"))
        self.assertEqual(wait_done(self.cd, rollback)["status"], "Succeeded")
        self.assertEqual(installed_versions(APP), ["v1"] * 3)

    def test_4_errors_users_meet(self):
        cases = [
            (["deploy", "get-application", "--application-name", "no-such-app"], "ApplicationDoesNotExistException"),
            (["deploy", "create-application", "--application-name", "bad name"], "InvalidApplicationNameException"),
            (["deploy", "create-application", "--application-name", APP], "ApplicationAlreadyExistsException"),
            (["deploy", "get-deployment", "--deployment-id", "d-NOTFOUND0"], "DeploymentDoesNotExistException"),
            (["deploy", "get-deployment", "--deployment-id", "12345"], "InvalidDeploymentIdException"),
            (["deploy", "get-deployment-config", "--deployment-config-name", "Nope"],
             "DeploymentConfigDoesNotExistException"),
            (["deploy", "create-deployment", "--application-name", APP, "--deployment-group-name", "nope",
              "--s3-location", f"bucket={BUCKET},key=v1.zip,bundleType=zip"], "DeploymentGroupDoesNotExistException"),
            (["deploy", "create-deployment", "--application-name", APP, "--deployment-group-name", "web",
              "--s3-location", f"bucket={BUCKET},key=missing.zip,bundleType=zip"], "InvalidRevisionException"),
        ]
        for args, exception in cases:
            code, _, err = cli(*args, check=False)
            self.assertEqual(code, 255, f"{args}: {err}")
            self.assertIn(f"An error occurred ({exception})", err, args)

        # A wrong ETag is refused with CodeDeploy's own message.
        code, _, err = cli(
            "deploy", "create-deployment", "--application-name", APP, "--deployment-group-name", "web",
            "--s3-location", f"bucket={BUCKET},key=v1.zip,bundleType=zip,eTag=0123456789abcdef0123456789abcdef",
            check=False,
        )
        self.assertEqual(code, 255)
        self.assertIn("InvalidRevisionException", err)
        self.assertIn("Expected deployment artifact bundle etag 0123456789abcdef0123456789abcdef but was actually", err)

        # Wrong secret, unknown key.
        code, _, err = cli("deploy", "list-applications", check=False,
                           env={"AWS_ACCESS_KEY_ID": ACCESS_KEY,
                                "AWS_SECRET_ACCESS_KEY": "not-the-secret", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        self.assertEqual(code, 255)
        self.assertIn("InvalidSignatureException", err)
        code, _, err = cli("deploy", "list-applications", check=False,
                           env={"AWS_ACCESS_KEY_ID": "AKIDNOTAFERRYKEY", "AWS_SECRET_ACCESS_KEY": "x",
                                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        self.assertEqual(code, 255)
        self.assertIn("UnrecognizedClientException", err)


if __name__ == "__main__":
    unittest.main()
