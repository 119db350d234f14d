"""Every operation of CodeDeploy's model, through boto3, with its error cases.
Each answer is also checked against botocore's model (harness.client)."""

import hashlib
import os
import subprocess
import tempfile
import unittest

import botocore.exceptions

import harness
from harness import ROLE, client, ensure_bucket, installed_versions, make_group, revision_dir, upload, wait_done

BUCKET = "api-releases"


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} did not fail")


class Applications(unittest.TestCase):
    def setUp(self):
        self.cd = client()

    def test_create_get_batch_list_update_delete(self):
        cd = self.cd
        app_id = cd.create_application(applicationName="api-apps", computePlatform="Server",
                                       tags=[{"Key": "team", "Value": "shop"}])["applicationId"]
        self.assertRegex(app_id, r"^[0-9a-f-]{36}$")
        info = cd.get_application(applicationName="api-apps")["application"]
        self.assertEqual((info["applicationId"], info["computePlatform"], info["linkedToGitHub"]),
                         (app_id, "Server", False))
        batch = cd.batch_get_applications(applicationNames=["api-apps"])["applicationsInfo"]
        self.assertEqual([a["applicationName"] for a in batch], ["api-apps"])
        self.assertEqual(error_code(cd.batch_get_applications, applicationNames=["api-apps", "nope"]),
                         "ApplicationDoesNotExistException")
        cd.update_application(applicationName="api-apps", newApplicationName="api-apps-2")
        self.assertEqual(error_code(cd.get_application, applicationName="api-apps"), "ApplicationDoesNotExistException")
        self.assertEqual(cd.get_application(applicationName="api-apps-2")["application"]["applicationId"], app_id)
        self.assertEqual(error_code(cd.update_application, applicationName="nope", newApplicationName="x"),
                         "ApplicationDoesNotExistException")
        cd.delete_application(applicationName="api-apps-2")
        cd.delete_application(applicationName="api-apps-2")  # absent: still fine, as in CodeDeploy
        self.assertEqual(error_code(cd.create_application, applicationName="lambda-app", computePlatform="Lambda"),
                         "InvalidComputePlatformException")
        self.assertEqual(error_code(cd.create_application, applicationName="x" * 101), "InvalidApplicationNameException")
        self.assertEqual(error_code(cd.create_application, applicationName="a/b"), "InvalidApplicationNameException")

    def test_lists_paginate_with_next_tokens(self):
        for i in range(105):
            self.cd.create_application(applicationName=f"page-{i:03}")
        first = self.cd.list_applications()
        self.assertEqual(len(first["applications"]), 100)
        self.assertIn("nextToken", first)
        names = [n for page in self.cd.get_paginator("list_applications").paginate() for n in page["applications"]]
        self.assertEqual(len([n for n in names if n.startswith("page-")]), 105)
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(error_code(self.cd.list_applications, nextToken="garbage"), "InvalidNextTokenException")
        self.assertEqual(error_code(self.cd.list_deployment_configs, nextToken=first["nextToken"]),
                         "InvalidNextTokenException")
        for i in range(105):
            self.cd.delete_application(applicationName=f"page-{i:03}")


class GroupsAndConfigs(unittest.TestCase):
    def setUp(self):
        self.cd = client()

    def test_deployment_groups(self):
        cd = self.cd
        cd.create_application(applicationName="api-groups")
        # A group's alarms must exist (ferry alarms; CodeDeploy's are CloudWatch's).
        self.assertEqual(error_code(cd.create_deployment_group, applicationName="api-groups",
                                    deploymentGroupName="web", serviceRoleArn=ROLE,
                                    alarmConfiguration={"enabled": True, "alarms": [{"name": "api-errors"}]}),
                         "InvalidAlarmConfigException")
        ferry("alarm", "create", "api-errors", "--expr", "vector(1) > 2")
        gid = cd.create_deployment_group(
            applicationName="api-groups", deploymentGroupName="web", serviceRoleArn=ROLE,
            deploymentConfigName="CodeDeployDefault.HalfAtATime",
            onPremisesTagSet={"onPremisesTagSetList": [[{"Key": "app", "Value": "demo", "Type": "KEY_AND_VALUE"}]]},
            autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
            triggerConfigurations=[{"triggerName": "ops", "triggerTargetArn": "http://127.0.0.1:9/ops",
                                    "triggerEvents": ["DeploymentFailure"]}],
            alarmConfiguration={"enabled": True, "alarms": [{"name": "api-errors"}]},
            outdatedInstancesStrategy="IGNORE",
            tags=[{"Key": "tier", "Value": "front"}],
        )["deploymentGroupId"]
        info = cd.get_deployment_group(applicationName="api-groups", deploymentGroupName="web")["deploymentGroupInfo"]
        self.assertEqual(info["deploymentGroupId"], gid)
        self.assertEqual(info["deploymentConfigName"], "CodeDeployDefault.HalfAtATime")
        self.assertEqual(info["onPremisesTagSet"]["onPremisesTagSetList"][0][0]["Value"], "demo")
        self.assertEqual(info["autoRollbackConfiguration"], {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
        self.assertEqual(info["triggerConfigurations"][0]["triggerName"], "ops")
        self.assertEqual(info["outdatedInstancesStrategy"], "IGNORE")
        self.assertEqual(info["serviceRoleArn"], ROLE)

        cases = [
            (dict(deploymentGroupName="web", serviceRoleArn=ROLE), "DeploymentGroupAlreadyExistsException"),
            (dict(deploymentGroupName="x", serviceRoleArn="not-a-role"), "InvalidRoleException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE, deploymentConfigName="Nope"),
             "DeploymentConfigDoesNotExistException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  onPremisesInstanceTagFilters=[{"Key": "a", "Value": "b", "Type": "KEY_AND_VALUE"}],
                  onPremisesTagSet={"onPremisesTagSetList": [[{"Key": "a", "Value": "b", "Type": "KEY_ONLY"}]]}),
             "InvalidOnPremisesTagCombinationException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  onPremisesTagSet={"onPremisesTagSetList": [[{"Key": "a", "Type": "KEY_ONLY"}]] * 4}),
             "TagSetListLimitExceededException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE, autoScalingGroups=["asg-1"]),
             "InvalidAutoScalingGroupException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}),
             "InvalidDeploymentStyleException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}),
             "InvalidLoadBalancerInfoException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  blueGreenDeploymentConfiguration={"deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT"}}),
             "InvalidBlueGreenDeploymentConfigurationException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE, loadBalancerInfo={"elbInfoList": [{"name": "lb"}]}),
             "InvalidLoadBalancerInfoException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE, autoRollbackConfiguration={"enabled": True}),
             "InvalidAutoRollbackConfigException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  alarmConfiguration={"enabled": True, "alarms": [{"name": "a"}, {"name": "a"}]}),
             "InvalidAlarmConfigException"),
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  triggerConfigurations=[{"triggerName": "t", "triggerTargetArn": "arn", "triggerEvents": []}]),
             "InvalidTriggerConfigException"),
            # ferry delivers triggers as webhooks: an SNS topic cannot be one.
            (dict(deploymentGroupName="x", serviceRoleArn=ROLE,
                  triggerConfigurations=[{"triggerName": "t", "triggerTargetArn": "arn:aws:sns:us-east-1:1:t",
                                          "triggerEvents": ["DeploymentFailure"]}]),
             "InvalidTriggerConfigException"),
            (dict(deploymentGroupName="bad name", serviceRoleArn=ROLE), "InvalidDeploymentGroupNameException"),
        ]
        for kwargs, expected in cases:
            self.assertEqual(error_code(cd.create_deployment_group, applicationName="api-groups", **kwargs), expected,
                             kwargs)
        self.assertEqual(error_code(cd.create_deployment_group, applicationName="nope", deploymentGroupName="x",
                                    serviceRoleArn=ROLE), "ApplicationDoesNotExistException")


        cd.update_deployment_group(applicationName="api-groups", currentDeploymentGroupName="web",
                                   newDeploymentGroupName="front", deploymentConfigName="CodeDeployDefault.AllAtOnce",
                                   onPremisesInstanceTagFilters=[{"Key": "app", "Type": "KEY_ONLY"}])
        info = cd.get_deployment_group(applicationName="api-groups", deploymentGroupName="front")["deploymentGroupInfo"]
        self.assertEqual(info["deploymentConfigName"], "CodeDeployDefault.AllAtOnce")
        self.assertNotIn("onPremisesTagSet", info)
        self.assertEqual(info["onPremisesInstanceTagFilters"], [{"Key": "app", "Value": "", "Type": "KEY_ONLY"}])
        self.assertEqual(error_code(cd.update_deployment_group, applicationName="api-groups",
                                    currentDeploymentGroupName="web"), "DeploymentGroupDoesNotExistException")
        cd.create_deployment_group(applicationName="api-groups", deploymentGroupName="back", serviceRoleArn=ROLE)
        batch = cd.batch_get_deployment_groups(applicationName="api-groups", deploymentGroupNames=["front", "gone"])
        self.assertEqual([g["deploymentGroupName"] for g in batch["deploymentGroupsInfo"]], ["front"])
        self.assertIn("gone", batch["errorMessage"])
        listed = cd.list_deployment_groups(applicationName="api-groups")
        self.assertEqual((listed["applicationName"], listed["deploymentGroups"]), ("api-groups", ["back", "front"]))
        self.assertEqual(cd.delete_deployment_group(applicationName="api-groups", deploymentGroupName="back")[
            "hooksNotCleanedUp"], [])
        self.assertEqual(cd.list_deployment_groups(applicationName="api-groups")["deploymentGroups"], ["front"])
        self.assertEqual(error_code(cd.list_deployment_groups, applicationName="nope"),
                         "ApplicationDoesNotExistException")

        # In place with traffic control, through a ferry target group.
        import socket
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        ferry("lb", "create", "api-tg", "--port", "8080", "--listen", f"127.0.0.1:{port}")
        cd.create_deployment_group(
            applicationName="api-groups", deploymentGroupName="lb", serviceRoleArn=ROLE,
            deploymentStyle={"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            loadBalancerInfo={"targetGroupInfoList": [{"name": "api-tg"}]})
        info = cd.get_deployment_group(applicationName="api-groups", deploymentGroupName="lb")["deploymentGroupInfo"]
        self.assertEqual(info["deploymentStyle"]["deploymentOption"], "WITH_TRAFFIC_CONTROL")
        self.assertEqual(info["loadBalancerInfo"], {"targetGroupInfoList": [{"name": "api-tg"}]})
        self.assertEqual(error_code(cd.create_deployment_group, applicationName="api-groups",
                                    deploymentGroupName="lb2", serviceRoleArn=ROLE,
                                    deploymentStyle={"deploymentType": "IN_PLACE",
                                                     "deploymentOption": "WITH_TRAFFIC_CONTROL"}),
                         "InvalidLoadBalancerInfoException")

    def test_deployment_configs(self):
        cd = self.cd
        cid = cd.create_deployment_config(deploymentConfigName="api-two-healthy",
                                          minimumHealthyHosts={"type": "HOST_COUNT", "value": 2})["deploymentConfigId"]
        info = cd.get_deployment_config(deploymentConfigName="api-two-healthy")["deploymentConfigInfo"]
        self.assertEqual((info["deploymentConfigId"], info["minimumHealthyHosts"]), (cid, {"type": "HOST_COUNT", "value": 2}))
        builtin = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.HalfAtATime")["deploymentConfigInfo"]
        self.assertEqual(builtin["minimumHealthyHosts"], {"type": "FLEET_PERCENT", "value": 50})
        names = [n for p in cd.get_paginator("list_deployment_configs").paginate() for n in p["deploymentConfigsList"]]
        self.assertIn("api-two-healthy", names)
        self.assertIn("CodeDeployDefault.OneAtATime", names)
        self.assertIn("CodeDeployDefault.LambdaCanary10Percent5Minutes", names)
        cases = [
            (dict(deploymentConfigName="api-two-healthy", minimumHealthyHosts={"type": "HOST_COUNT", "value": 1}),
             "DeploymentConfigAlreadyExistsException"),
            (dict(deploymentConfigName="CodeDeployDefault.Mine", minimumHealthyHosts={"type": "HOST_COUNT", "value": 1}),
             "InvalidDeploymentConfigNameException"),
            (dict(deploymentConfigName="too-high", minimumHealthyHosts={"type": "FLEET_PERCENT", "value": 100}),
             "InvalidMinimumHealthyHostValueException"),
            (dict(deploymentConfigName="no-min"), "InvalidMinimumHealthyHostValueException"),
            (dict(deploymentConfigName="zonal", minimumHealthyHosts={"type": "HOST_COUNT", "value": 1},
                  zonalConfig={"monitorDurationInSeconds": 60}), "InvalidZonalDeploymentConfigurationException"),
            (dict(deploymentConfigName="lambda", computePlatform="Lambda",
                  trafficRoutingConfig={"type": "AllAtOnce"}), "InvalidComputePlatformException"),
            (dict(deploymentConfigName="ecs-min", computePlatform="ECS", minimumHealthyHosts={"type": "HOST_COUNT", "value": 1},
                  trafficRoutingConfig={"type": "AllAtOnce"}), "InvalidMinimumHealthyHostValueException"),
            (dict(deploymentConfigName="ecs-no-routing", computePlatform="ECS"),
             "InvalidTrafficRoutingConfigurationException"),
            (dict(deploymentConfigName="canary-0", minimumHealthyHosts={"type": "HOST_COUNT", "value": 0},
                  trafficRoutingConfig={"type": "TimeBasedCanary",
                                        "timeBasedCanary": {"canaryPercentage": 0, "canaryInterval": 1}}),
             "InvalidTrafficRoutingConfigurationException"),
        ]
        for kwargs, expected in cases:
            self.assertEqual(error_code(cd.create_deployment_config, **kwargs), expected, kwargs)
        # An ECS config: traffic routing, no minimum.
        cd.create_deployment_config(deploymentConfigName="api-ecs-canary", computePlatform="ECS",
                                    trafficRoutingConfig={"type": "TimeBasedCanary",
                                                          "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 2}})
        info = cd.get_deployment_config(deploymentConfigName="api-ecs-canary")["deploymentConfigInfo"]
        self.assertEqual(info["computePlatform"], "ECS")
        self.assertEqual(info["trafficRoutingConfig"]["timeBasedCanary"], {"canaryPercentage": 20, "canaryInterval": 2})
        cd.delete_deployment_config(deploymentConfigName="api-ecs-canary")
        self.assertEqual(error_code(cd.delete_deployment_config, deploymentConfigName="CodeDeployDefault.AllAtOnce"),
                         "InvalidOperationException")
        make_group(cd, "api-config-user", deploymentConfigName="api-two-healthy")
        self.assertEqual(error_code(cd.delete_deployment_config, deploymentConfigName="api-two-healthy"),
                         "DeploymentConfigInUseException")
        cd.delete_application(applicationName="api-config-user")
        cd.delete_deployment_config(deploymentConfigName="api-two-healthy")
        self.assertEqual(error_code(cd.get_deployment_config, deploymentConfigName="api-two-healthy"),
                         "DeploymentConfigDoesNotExistException")


class Tagging(unittest.TestCase):
    def test_tag_untag_list(self):
        cd = client()
        make_group(cd, "api-tags")
        app_arn = "arn:aws:codedeploy:us-east-1:000000000000:application:api-tags"
        group_arn = "arn:aws:codedeploy:us-east-1:000000000000:deploymentgroup:api-tags/web"
        cd.tag_resource(ResourceArn=app_arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        cd.tag_resource(ResourceArn=group_arn, Tags=[{"Key": "owner", "Value": "ops"}])
        self.assertEqual(cd.list_tags_for_resource(ResourceArn=app_arn)["Tags"],
                         [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        cd.untag_resource(ResourceArn=app_arn, TagKeys=["a"])
        self.assertEqual(cd.list_tags_for_resource(ResourceArn=app_arn)["Tags"], [{"Key": "b", "Value": "2"}])
        self.assertEqual(cd.list_tags_for_resource(ResourceArn=group_arn)["Tags"], [{"Key": "owner", "Value": "ops"}])
        self.assertEqual(error_code(cd.tag_resource, ResourceArn="nonsense", Tags=[{"Key": "a", "Value": "1"}]),
                         "InvalidArnException")
        self.assertEqual(error_code(cd.tag_resource, ResourceArn=app_arn, Tags=[]), "TagRequiredException")
        self.assertEqual(error_code(cd.list_tags_for_resource,
                                    ResourceArn="arn:aws:codedeploy:us-east-1:0:application:nope"),
                         "InvalidArnException")
        self.assertEqual(error_code(cd.tag_resource, ResourceArn="arn:aws:codedeploy:us-east-1:0:application:nope",
                                    Tags=[{"Key": "a", "Value": "1"}]), "ApplicationDoesNotExistException")
        self.assertEqual(error_code(cd.untag_resource, ResourceArn="arn:aws:codedeploy:us-east-1:0:deployment:d-1",
                                    TagKeys=["a"]), "ArnNotSupportedException")


class OnPremisesInstances(unittest.TestCase):
    def test_register_tag_list_deregister(self):
        cd = client()
        user = "arn:aws:iam::123456789012:user/AWS/CodeDeploy/api-box"
        cd.register_on_premises_instance(instanceName="api-box", iamUserArn=user)
        cd.add_tags_to_on_premises_instances(instanceNames=["api-box"], tags=[{"Key": "rack", "Value": "r1"}])
        info = cd.get_on_premises_instance(instanceName="api-box")["instanceInfo"]
        self.assertEqual((info["iamUserArn"], info["tags"]), (user, [{"Key": "rack", "Value": "r1"}]))
        self.assertRegex(info["instanceArn"], r"^arn:aws:codedeploy:us-east-1:\d+:instance/api-box_[A-Za-z0-9]{10}$")
        # The fleet's own hosts enrolled through their agents and are listed too.
        names = cd.list_on_premises_instances(registrationStatus="Registered")["instanceNames"]
        self.assertIn("api-box", names)
        self.assertTrue({"host1", "host2", "host3"} <= set(names))
        tagged = cd.list_on_premises_instances(tagFilters=[{"Key": "rack", "Value": "r1", "Type": "KEY_AND_VALUE"}])
        self.assertEqual(tagged["instanceNames"], ["api-box"])
        batch = cd.batch_get_on_premises_instances(instanceNames=["api-box", "host1", "ghost"])["instanceInfos"]
        self.assertEqual(sorted(i["instanceName"] for i in batch), ["api-box", "host1"])
        cases = [
            (cd.register_on_premises_instance, dict(instanceName="api-box", iamUserArn=user + "2"),
             "InstanceNameAlreadyRegisteredException"),
            (cd.register_on_premises_instance, dict(instanceName="other", iamUserArn=user),
             "IamUserArnAlreadyRegisteredException"),
            (cd.register_on_premises_instance, dict(instanceName="other"), "IamArnRequiredException"),
            (cd.register_on_premises_instance,
             dict(instanceName="other", iamUserArn=user + "3", iamSessionArn="arn:aws:sts::1:assumed-role/r/s"),
             "MultipleIamArnsProvidedException"),
            (cd.register_on_premises_instance, dict(instanceName="other", iamUserArn="bad"),
             "InvalidIamUserArnException"),
            (cd.register_on_premises_instance, dict(instanceName="i-123", iamUserArn=user + "4"),
             "InvalidInstanceNameException"),
            (cd.get_on_premises_instance, dict(instanceName="ghost"), "InstanceNotRegisteredException"),
            (cd.add_tags_to_on_premises_instances, dict(instanceNames=["ghost"], tags=[{"Key": "k", "Value": "v"}]),
             "InstanceNotRegisteredException"),
            (cd.add_tags_to_on_premises_instances, dict(instanceNames=["api-box"], tags=[]), "TagRequiredException"),
            (cd.list_on_premises_instances, dict(registrationStatus="Maybe"), "InvalidRegistrationStatusException"),
        ]
        for call, kwargs, expected in cases:
            self.assertEqual(error_code(call, **kwargs), expected, kwargs)
        cd.remove_tags_from_on_premises_instances(instanceNames=["api-box"], tags=[{"Key": "rack", "Value": "r1"}])
        self.assertEqual(cd.get_on_premises_instance(instanceName="api-box")["instanceInfo"]["tags"], [])
        cd.deregister_on_premises_instance(instanceName="api-box")
        info = cd.get_on_premises_instance(instanceName="api-box")["instanceInfo"]
        self.assertIn("deregisterTime", info)
        self.assertIn("api-box", cd.list_on_premises_instances(registrationStatus="Deregistered")["instanceNames"])
        self.assertNotIn("api-box", cd.list_on_premises_instances(registrationStatus="Registered")["instanceNames"])


class RevisionsAndDeployments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cd = client()
        ensure_bucket(BUCKET)
        make_group(cls.cd, "api-deploy", autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})

    def test_1_s3_revisions_register_list_deploy_and_every_view_of_a_deployment(self):
        cd = self.cd
        loc = upload(BUCKET, "api/v1.zip", revision_dir("api-deploy", "v1"))
        cd.register_application_revision(applicationName="api-deploy", revision=loc, description="first")
        got = cd.get_application_revision(applicationName="api-deploy", revision=loc)
        self.assertEqual(got["revision"], loc)
        self.assertEqual(got["revisionInfo"]["description"], "first")
        self.assertEqual(got["revisionInfo"]["deploymentGroups"], [])
        self.assertEqual(error_code(cd.register_application_revision, applicationName="api-deploy",
                                    revision={"revisionType": "S3", "s3Location": {"bucket": BUCKET, "key": "k"}}),
                         "InvalidRevisionException")
        self.assertEqual(error_code(cd.register_application_revision, applicationName="api-deploy",
                                    revision=loc, description="x" * 300), "DescriptionTooLongException")

        d = cd.create_deployment(applicationName="api-deploy", deploymentGroupName="web", revision=loc,
                                 deploymentConfigName="CodeDeployDefault.AllAtOnce", description="api v1",
                                 fileExistsBehavior="OVERWRITE")["deploymentId"]
        self.assertRegex(d, r"^d-[A-Z0-9]{9}$")
        cd.get_waiter("deployment_successful").wait(deploymentId=d, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        self.assertEqual(installed_versions("api-deploy"), ["v1"] * 3)
        info = cd.get_deployment(deploymentId=d)["deploymentInfo"]
        self.assertEqual((info["status"], info["description"], info["fileExistsBehavior"]),
                         ("Succeeded", "api v1", "OVERWRITE"))
        self.assertEqual(info["deploymentOverview"]["Succeeded"], 3)
        self.assertLessEqual(info["createTime"], info["startTime"])
        self.assertLessEqual(info["startTime"], info["completeTime"])
        self.assertEqual([i["deploymentId"] for i in cd.batch_get_deployments(deploymentIds=[d, "d-AAAAAAAAA"])[
            "deploymentsInfo"]], [d])
        self.assertIn(d, cd.list_deployments(applicationName="api-deploy", deploymentGroupName="web")["deployments"])
        self.assertIn(d, cd.list_deployments()["deployments"])
        self.assertEqual(cd.list_deployments(applicationName="api-deploy", deploymentGroupName="web",
                                             includeOnlyStatuses=["Failed"])["deployments"], [])
        self.assertEqual(cd.list_deployments(applicationName="api-deploy", deploymentGroupName="web",
                                             createTimeRange={"start": 0, "end": 1})["deployments"], [])
        # The request's own members are checked before anything is looked up,
        # as AWS does: an application alone is incomplete, known or not.
        for app in ("api-deploy", "no-such-app"):
            self.assertEqual(error_code(cd.list_deployments, applicationName=app),
                             "DeploymentGroupNameRequiredException")

        targets = cd.list_deployment_targets(deploymentId=d)["targetIds"]
        self.assertEqual(sorted(targets), ["host1", "host2", "host3"])
        self.assertEqual(cd.list_deployment_targets(deploymentId=d, targetFilters={"TargetStatus": ["Failed"]})[
            "targetIds"], [])
        t = cd.get_deployment_target(deploymentId=d, targetId="host1")["deploymentTarget"]
        self.assertEqual(t["deploymentTargetType"], "InstanceTarget")
        events = [e["lifecycleEventName"] for e in t["instanceTarget"]["lifecycleEvents"]]
        self.assertEqual(events, ["ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall",
                                  "ApplicationStart", "ValidateService"])
        by_arn = cd.get_deployment_target(deploymentId=d, targetId=t["instanceTarget"]["targetArn"])
        self.assertEqual(by_arn["deploymentTarget"]["instanceTarget"]["targetId"], "host1")
        batch = cd.batch_get_deployment_targets(deploymentId=d, targetIds=["host1", "host2"])["deploymentTargets"]
        self.assertEqual(len(batch), 2)
        self.assertEqual(error_code(cd.get_deployment_target, deploymentId=d, targetId="ghost"),
                         "DeploymentTargetDoesNotExistException")
        self.assertEqual(sorted(cd.list_deployment_instances(deploymentId=d)["instancesList"]),
                         ["host1", "host2", "host3"])
        summary = cd.get_deployment_instance(deploymentId=d, instanceId="host2")["instanceSummary"]
        self.assertEqual(summary["status"], "Succeeded")
        many = cd.batch_get_deployment_instances(deploymentId=d, instanceIds=["host2", "ghost"])
        self.assertEqual(len(many["instancesSummary"]), 1)
        self.assertIn("ghost", many["errorMessage"])
        self.assertEqual(error_code(cd.get_deployment_instance, deploymentId=d, instanceId="ghost"),
                         "InstanceDoesNotExistException")

        listed = cd.list_application_revisions(applicationName="api-deploy", sortBy="lastUsedTime",
                                               sortOrder="descending", deployed="include")["revisions"]
        self.assertEqual(listed[0], loc)
        self.assertEqual(cd.list_application_revisions(applicationName="api-deploy", deployed="exclude",
                                                       s3Bucket=BUCKET)["revisions"], [])
        self.assertEqual(error_code(cd.list_application_revisions, applicationName="api-deploy", s3KeyPrefix="api/"),
                         "BucketNameFilterRequiredException")
        self.assertEqual(error_code(cd.list_application_revisions, applicationName="api-deploy", sortBy="size"),
                         "InvalidSortByException")
        batch = cd.batch_get_application_revisions(applicationName="api-deploy", revisions=[loc])["revisions"]
        self.assertEqual(batch[0]["genericRevisionInfo"]["deploymentGroups"], ["web"])

        # Deployment-level refusals.
        cases = [
            (dict(deploymentGroupName="web"), "RevisionRequiredException"),
            (dict(revision=loc), "DeploymentGroupNameRequiredException"),
            (dict(deploymentGroupName="web", revision=loc, deploymentConfigName="Nope"),
             "DeploymentConfigDoesNotExistException"),
            (dict(deploymentGroupName="web", revision=loc, fileExistsBehavior="MERGE"),
             "InvalidFileExistsBehaviorException"),
            (dict(deploymentGroupName="web", revision=loc, targetInstances={"tagFilters": []}),
             "InvalidTargetInstancesException"),
            (dict(deploymentGroupName="web", revision=loc, autoRollbackConfiguration={"enabled": True, "events": []}),
             "InvalidAutoRollbackConfigException"),
            (dict(deploymentGroupName="web", revision=loc, description="x" * 257), "DescriptionTooLongException"),
        ]
        for kwargs, expected in cases:
            self.assertEqual(error_code(cd.create_deployment, applicationName="api-deploy", **kwargs), expected, kwargs)
        # updateOutdatedInstancesOnly: every instance already has this revision.
        only = cd.create_deployment(applicationName="api-deploy", deploymentGroupName="web", revision=loc,
                                    updateOutdatedInstancesOnly=True)["deploymentId"]
        info = wait_done(cd, only)
        self.assertEqual(info["errorInformation"]["code"], "NO_INSTANCES", info)
        self.assertIn("no instance of the deployment group was outdated", info["errorInformation"]["message"])
        self.assertEqual(error_code(cd.stop_deployment, deploymentId=d), "DeploymentAlreadyCompletedException")
        self.assertEqual(error_code(cd.continue_deployment, deploymentId=d), "DeploymentAlreadyCompletedException")
        self.assertEqual(error_code(cd.skip_wait_time_for_instance_termination, deploymentId=d),
                         "DeploymentAlreadyCompletedException")
        self.assertEqual(error_code(cd.put_lifecycle_event_hook_execution_status, deploymentId=d,
                                    lifecycleEventHookExecutionId="x", status="Succeeded"),
                         "UnsupportedActionForDeploymentTypeException")
        self.assertEqual(error_code(cd.get_deployment, deploymentId="d-ZZZZZZZZZ"), "DeploymentDoesNotExistException")

    def test_2_a_running_deployment_stops_and_refuses_blue_green_actions(self):
        cd = self.cd
        slow = upload(BUCKET, "api/slow.zip", revision_dir("api-deploy", "slow", slow_event="ApplicationStart",
                                                            slow_seconds=3))
        d = cd.create_deployment(applicationName="api-deploy", deploymentGroupName="web", revision=slow,
                                 fileExistsBehavior="OVERWRITE")["deploymentId"]
        def hook_running():
            if cd.get_deployment(deploymentId=d)["deploymentInfo"]["status"] != "InProgress":
                return False
            targets = cd.batch_get_deployment_targets(deploymentId=d, targetIds=["host1", "host2", "host3"])
            return any(e["status"] == "InProgress" and e["lifecycleEventName"] == "ApplicationStart"
                       for t in targets["deploymentTargets"] for e in t["instanceTarget"]["lifecycleEvents"])

        # Stopped while the slow hook runs, it waits for the hook ("Pending").
        harness.wait_for("the slow hook to run", hook_running)
        self.assertEqual(error_code(cd.continue_deployment, deploymentId=d, deploymentWaitType="READY_WAIT"),
                         "UnsupportedActionForDeploymentTypeException")
        self.assertEqual(error_code(cd.skip_wait_time_for_instance_termination, deploymentId=d),
                         "UnsupportedActionForDeploymentTypeException")
        queued = cd.create_deployment(applicationName="api-deploy", deploymentGroupName="web", revision=slow,
                                      fileExistsBehavior="OVERWRITE")["deploymentId"]
        self.assertEqual(cd.get_deployment(deploymentId=queued)["deploymentInfo"]["status"], "Queued")
        self.assertEqual(error_code(cd.list_deployment_targets, deploymentId=queued), "DeploymentNotStartedException")
        self.assertEqual(cd.stop_deployment(deploymentId=queued)["status"], "Succeeded")
        stopped = cd.stop_deployment(deploymentId=d, autoRollbackEnabled=False)
        self.assertEqual(stopped["status"], "Pending")
        self.assertEqual(stopped["statusMessage"],
                         "No more commands will be scheduled for execution in the deployment instances.")
        info = wait_done(cd, d)
        self.assertEqual((info["status"], info["errorInformation"]["code"]), ("Stopped", "MANUAL_STOP"))
        self.assertNotIn("rollbackDeploymentId", info.get("rollbackInfo", {}))
        self.assertEqual(wait_done(cd, queued)["status"], "Stopped")

    def test_3_git_and_inline_appspec_revisions(self):
        cd = self.cd
        repo = tempfile.mkdtemp(prefix="git-rev-")
        src = revision_dir("api-git", "g1")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", repo]
        subprocess.run(["git", "init", "-q", repo], check=True)
        subprocess.run(["cp", "-r", f"{src}/.", repo], check=True)
        subprocess.run(git + ["add", "."], check=True)
        subprocess.run(git + ["commit", "-qm", "g1"], check=True)
        commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        make_group(cd, "api-git")
        revision = {"revisionType": "GitHub", "gitHubLocation": {"repository": repo, "commitId": commit}}
        d = cd.create_deployment(applicationName="api-git", deploymentGroupName="web", revision=revision,
                                 deploymentConfigName="CodeDeployDefault.AllAtOnce")["deploymentId"]
        self.assertEqual(wait_done(cd, d)["status"], "Succeeded")
        self.assertEqual(installed_versions("api-git"), ["g1"] * 3)
        self.assertIn(f"BUNDLE_COMMIT={commit}\n", harness.host_log("api-git", 0, "bundle-env"))
        # A revision that cannot be copied in is no API error (the copy runs
        # after the call answered): the deployment fails with the reason, as
        # CodeDeploy's do when their revision cannot be downloaded.
        bad = {"revisionType": "GitHub", "gitHubLocation": {"repository": repo, "commitId": "0" * 40}}
        d = cd.create_deployment(applicationName="api-git", deploymentGroupName="web", revision=bad)["deploymentId"]
        info = wait_done(cd, d)
        self.assertEqual(info["status"], "Failed")
        self.assertIn(info["errorInformation"]["code"], ("REVISION_MISSING", "INVALID_REVISION"), info)
        self.assertIn("0" * 40, info["errorInformation"]["message"])
        self.assertEqual(info["deploymentOverview"]["Succeeded"], 0)
        self.assertEqual(installed_versions("api-git"), ["g1"] * 3)
        # A location the server may not fetch from is still refused at once.
        odd = {"revisionType": "GitHub", "gitHubLocation": {"repository": "not a repo", "commitId": commit}}
        self.assertEqual(error_code(cd.create_deployment, applicationName="api-git", deploymentGroupName="web",
                                    revision=odd), "InvalidRevisionException")

        # An appspec alone (nothing to install, no scripts to run).
        appspec = "version: 0.0\nos: linux\n"
        inline = {"revisionType": "AppSpecContent",
                  "appSpecContent": {"content": appspec, "sha256": hashlib.sha256(appspec.encode()).hexdigest()}}
        make_group(cd, "api-inline")
        d = cd.create_deployment(applicationName="api-inline", deploymentGroupName="web", revision=inline,
                                 deploymentConfigName="CodeDeployDefault.AllAtOnce")["deploymentId"]
        self.assertEqual(wait_done(cd, d)["status"], "Succeeded", cd.get_deployment(deploymentId=d))
        self.assertEqual(cd.get_deployment(deploymentId=d)["deploymentInfo"]["revision"]["revisionType"],
                         "AppSpecContent")
        broken = {"revisionType": "AppSpecContent", "appSpecContent": {"content": "version: 1.0\n"}}
        self.assertEqual(error_code(cd.register_application_revision, applicationName="api-inline", revision=broken),
                         "InvalidRevisionException")

    def test_4_revisions_pushed_with_ferry_are_visible_and_deployable(self):
        cd = self.cd
        src = revision_dir("api-native", "n1")
        ferry = os.environ["FERRY_BIN"]
        make_group(cd, "api-native")
        out = subprocess.run([ferry, "push", "api-native", src, "--server", harness.ENDPOINT, "--credentials",
                              harness.CREDENTIALS_FILE], check=True, capture_output=True, text=True).stdout
        revision_id = out.strip().splitlines()[-1]
        listed = cd.list_application_revisions(applicationName="api-native")["revisions"]
        self.assertEqual(listed, [{"revisionType": "S3", "s3Location": {"bucket": "FerryServer", "key": revision_id,
                                                                       "bundleType": "zip"}}])
        d = cd.create_deployment(applicationName="api-native", deploymentGroupName="web", revision=listed[0],
                                 deploymentConfigName="CodeDeployDefault.AllAtOnce")["deploymentId"]
        self.assertEqual(wait_done(cd, d)["status"], "Succeeded")
        self.assertEqual(installed_versions("api-native"), ["n1"] * 3)


class BlueGreen(unittest.TestCase):
    """Blue/green through the AWS API, to the point where traffic would move:
    the successful cut-over runs in tests/blue_green.rs behind a real proxy."""

    def test_groups_deployments_ready_wait_and_a_green_fleet_that_never_turns_healthy(self):
        cd = client()
        # A ferry target group (no AWS API makes one); nothing listens on the
        # instances' port 8080, so AllowTraffic must time out.
        port = harness.free_port()
        ferry("lb", "create", "api-bg-tg", "--port", "8080", "--listen", f"127.0.0.1:{port}",
              "--health-interval-ms", "100", "--health-timeout-ms", "500", "--healthy-timeout-ms", "1500")
        bg = {
            "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 30},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
            "greenFleetProvisioningOption": {"action": "DISCOVER_EXISTING"},
        }
        style = {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
        lb = {"targetGroupInfoList": [{"name": "api-bg-tg"}]}
        make_group(cd, "api-bg", deploymentStyle=style, loadBalancerInfo=lb, blueGreenDeploymentConfiguration=bg)
        info = cd.get_deployment_group(applicationName="api-bg", deploymentGroupName="web")["deploymentGroupInfo"]
        self.assertEqual(info["deploymentStyle"], style)
        self.assertEqual(info["blueGreenDeploymentConfiguration"], bg)
        for config, expected in [
            ({"greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"}},
             "InvalidBlueGreenDeploymentConfigurationException"),
            ({"deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 2881}},
             "InvalidBlueGreenDeploymentConfigurationException"),
            ({"terminateBlueInstancesOnDeploymentSuccess": {"action": "MAYBE"}},
             "InvalidBlueGreenDeploymentConfigurationException"),
        ]:
            self.assertEqual(error_code(cd.update_deployment_group, applicationName="api-bg",
                                        currentDeploymentGroupName="web", blueGreenDeploymentConfiguration=config),
                             expected, config)
        # Members left out keep their values.
        cd.update_deployment_group(applicationName="api-bg", currentDeploymentGroupName="web",
                                   blueGreenDeploymentConfiguration={
                                       "deploymentReadyOption": {"waitTimeInMinutes": 20}})
        info = cd.get_deployment_group(applicationName="api-bg", deploymentGroupName="web")["deploymentGroupInfo"]
        self.assertEqual(info["blueGreenDeploymentConfiguration"]["deploymentReadyOption"],
                         {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 20})
        self.assertEqual(info["blueGreenDeploymentConfiguration"]["terminateBlueInstancesOnDeploymentSuccess"],
                         bg["terminateBlueInstancesOnDeploymentSuccess"])

        cd.create_deployment_config(deploymentConfigName="api-bg-canary",
                                    minimumHealthyHosts={"type": "HOST_COUNT", "value": 0},
                                    trafficRoutingConfig={"type": "TimeBasedCanary", "timeBasedCanary": {
                                        "canaryPercentage": 10, "canaryInterval": 5}})
        config = cd.get_deployment_config(deploymentConfigName="api-bg-canary")["deploymentConfigInfo"]
        self.assertEqual(config["trafficRoutingConfig"]["timeBasedCanary"],
                         {"canaryPercentage": 10, "canaryInterval": 5})

        # The replacement fleet: host3, by a tag given for this test.
        green_tag = {"Key": "fleet", "Value": "api-bg-green"}
        cd.add_tags_to_on_premises_instances(tags=[green_tag], instanceNames=["host3"])
        self.addCleanup(cd.remove_tags_from_on_premises_instances, tags=[green_tag], instanceNames=["host3"])
        ensure_bucket(BUCKET)
        loc = upload(BUCKET, "api/bg-1.zip", revision_dir("api-bg", "b1"))
        target = {"tagFilters": [dict(green_tag, Type="KEY_AND_VALUE")]}
        self.assertEqual(error_code(cd.create_deployment, applicationName="api-bg", deploymentGroupName="web",
                                    revision=loc, targetInstances={"autoScalingGroups": ["asg"]}),
                         "InvalidTargetInstancesException")
        d = cd.create_deployment(applicationName="api-bg", deploymentGroupName="web", revision=loc,
                                 deploymentConfigName="api-bg-canary", targetInstances=target)["deploymentId"]
        harness.wait_for("the Ready state",
                         lambda: cd.get_deployment(deploymentId=d)["deploymentInfo"]["status"] == "Ready")
        info = cd.get_deployment(deploymentId=d)["deploymentInfo"]
        self.assertEqual(info["deploymentStyle"], style)
        self.assertEqual(info["targetInstances"], target)
        self.assertEqual(info["blueGreenDeploymentConfiguration"]["deploymentReadyOption"]["waitTimeInMinutes"], 20)
        self.assertEqual(info["loadBalancerInfo"], lb)
        self.assertFalse(info["instanceTerminationWaitTimeStarted"])
        self.assertEqual(info["deploymentOverview"]["Ready"], 1)
        self.assertEqual(installed_versions("api-bg")[2], "b1")
        self.assertEqual(installed_versions("api-bg")[:2], [None, None], "only the green fleet is installed")
        self.assertEqual(cd.list_deployment_targets(deploymentId=d, targetFilters={"ServerInstanceLabel": ["Green"]})
                         ["targetIds"], ["host3"])
        self.assertEqual(cd.list_deployment_targets(deploymentId=d, targetFilters={"ServerInstanceLabel": ["Blue"]})
                         ["targetIds"], [])
        self.assertEqual(cd.list_deployment_instances(deploymentId=d, instanceTypeFilter=["Green"])["instancesList"],
                         ["host3"])
        t = cd.get_deployment_target(deploymentId=d, targetId="host3")["deploymentTarget"]["instanceTarget"]
        self.assertEqual((t["instanceLabel"], t["status"]), ("Green", "Ready"))
        self.assertEqual(error_code(cd.continue_deployment, deploymentId=d, deploymentWaitType="TERMINATION_WAIT"),
                         "DeploymentIsNotInReadyStateException")
        self.assertEqual(error_code(cd.continue_deployment, deploymentId=d, deploymentWaitType="SOON"),
                         "InvalidDeploymentWaitTypeException")

        cd.continue_deployment(deploymentId=d, deploymentWaitType="READY_WAIT")
        info = wait_done(cd, d)
        self.assertEqual((info["status"], info["errorInformation"]["code"]), ("Failed", "CUSTOMER_APPLICATION_UNHEALTHY"),
                         info)
        self.assertEqual(error_code(cd.continue_deployment, deploymentId=d), "DeploymentAlreadyCompletedException")
        events = {e["lifecycleEventName"]: e["status"]
                  for e in cd.get_deployment_target(deploymentId=d, targetId="host3")
                  ["deploymentTarget"]["instanceTarget"]["lifecycleEvents"]}
        self.assertEqual(events["AllowTraffic"], "Failed", events)


class AwsOnlyOperations(unittest.TestCase):
    def test_github_and_cloudformation_operations_answer_as_aws_does_when_there_is_nothing(self):
        cd = client()
        self.assertEqual(cd.list_git_hub_account_token_names()["tokenNameList"], [])
        self.assertEqual(error_code(cd.delete_git_hub_account_token, tokenName="mine"),
                         "GitHubAccountTokenDoesNotExistException")
        cd.delete_resources_by_external_id(externalId="stack-1")


def ferry(*args):
    out = subprocess.run([os.environ["FERRY_BIN"], *args, "--server", harness.ENDPOINT, "--credentials",
                          harness.CREDENTIALS_FILE], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"ferry {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


class Authentication(unittest.TestCase):
    def test_keys_have_roles_and_revoked_keys_are_refused_at_once(self):
        import json
        reader = json.loads(ferry("keys", "create", "--role", "read-only", "--description", "dashboards", "--json"))
        deployer = json.loads(ferry("keys", "create", "--role", "deployer", "--json"))
        ro = client(reader["access_key_id"], reader["secret_access_key"])
        ro.list_applications()
        ro.get_deployment_config(deploymentConfigName="CodeDeployDefault.AllAtOnce")
        self.assertEqual(error_code(ro.create_application, applicationName="ro-app"), "AccessDeniedException")
        self.assertEqual(error_code(ro.stop_deployment, deploymentId="d-AAAAAAAAA"), "AccessDeniedException")
        dep = client(deployer["access_key_id"], deployer["secret_access_key"])
        dep.create_application(applicationName="deployer-app")
        dep.delete_application(applicationName="deployer-app")
        listed = {k["access_key_id"]: k for k in json.loads(ferry("keys", "list", "--json"))}
        self.assertEqual(listed[reader["access_key_id"]]["role"], "read-only")
        self.assertNotIn("secret_access_key", listed[reader["access_key_id"]])
        self.assertTrue(any(k["role"] == "agent" for k in listed.values()))
        ferry("keys", "revoke", reader["access_key_id"])
        self.assertEqual(error_code(ro.list_applications), "UnrecognizedClientException")

    def test_every_call_is_signed_and_checked(self):
        wrong = client(secret_key="wrong", check=False)
        self.assertEqual(error_code(wrong.list_applications), "InvalidSignatureException")
        stranger = client(access_key="AKIDUNKNOWN", secret_key="x", check=False)
        self.assertEqual(error_code(stranger.list_applications), "UnrecognizedClientException")
        import urllib.request
        request = urllib.request.Request(harness.ENDPOINT + "/", data=b"{}", method="POST", headers={
            "X-Amz-Target": "CodeDeploy_20141006.ListApplications", "Content-Type": "application/x-amz-json-1.1"})
        try:
            harness.urlopen(request)
            raise AssertionError("an unsigned request was answered")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 403)
            self.assertEqual(e.headers["x-amzn-ErrorType"], "MissingAuthenticationTokenException")


if __name__ == "__main__":
    unittest.main()


class RoleMatrix(unittest.TestCase):
    """Every operation of CodeDeploy's model, as a read-only key and as a
    deployer limited to one group: read-only keys may call exactly the
    operations that change nothing (Get*, List*, BatchGet*); the limited
    deployer is refused every change outside its group."""

    def test_every_operation_as_each_limited_role(self):
        import json
        import boto3
        import botocore.config
        from botocore import xform_name

        reader = json.loads(ferry("keys", "create", "--role", "read-only", "--json"))
        scoped = json.loads(ferry("keys", "create", "--role", "deployer", "--scope", "matrix-app/web", "--json"))

        def unchecked(key):
            # No client-side validation: the server must refuse before it reads the input.
            return boto3.client(
                "codedeploy", endpoint_url=harness.ENDPOINT, region_name=harness.REGION,
                aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
                verify=harness.CA_BUNDLE,
                config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False))

        ro, limited = unchecked(reader), unchecked(scoped)
        model = ro.meta.service_model
        elsewhere = "arn:aws:codedeploy:us-east-1:000000000000:application:elsewhere"

        def code(c, name, params):
            try:
                getattr(c, xform_name(name))(**params)
                return None
            except botocore.exceptions.ClientError as e:
                return e.response["Error"]["Code"]

        checked = 0
        for name in model.operation_names:
            reads = name.startswith(("Get", "List", "BatchGet"))
            members = model.operation_model(name).input_shape.members if model.operation_model(name).input_shape else {}
            params = {}
            for member in members:
                if member == "applicationName":
                    params[member] = "elsewhere"
                elif member in ("deploymentGroupName", "currentDeploymentGroupName"):
                    params[member] = "web"
                elif member == "ResourceArn":
                    params[member] = elsewhere
            got = code(ro, name, params)
            if reads:
                self.assertNotEqual(got, "AccessDeniedException", f"read-only refused {name}")
            else:
                self.assertEqual(got, "AccessDeniedException", f"read-only allowed {name}")
                got = code(limited, name, params)
                self.assertEqual(got, "AccessDeniedException", f"a deployer limited to matrix-app/web allowed {name}")
            checked += 1
        self.assertEqual(checked, 47)


def raw_call(key, operation, body, unsigned_headers=None, signed_headers=None):
    """Signs and sends a request exactly as given (no client-side model),
    optionally with headers added after signing. Returns (status, error code)."""
    import json
    import urllib.error
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"X-Amz-Target": "CodeDeploy_20141006." + operation, "Content-Type": "application/x-amz-json-1.1"}
    headers.update(signed_headers or {})
    request = AWSRequest(method="POST", url=harness.ENDPOINT + "/", data=json.dumps(body).encode(), headers=headers)
    SigV4Auth(Credentials(key["access_key_id"], key["secret_access_key"]), "codedeploy", harness.REGION).add_auth(request)
    sent = dict(request.headers.items())
    sent.update(unsigned_headers or {})
    try:
        with harness.urlopen(urllib.request.Request(request.url, data=request.body, headers=sent, method="POST")) as r:
            return r.status, None
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("x-amzn-ErrorType")


class ScopeInjection(unittest.TestCase):
    """A deployer limited to one application or group names another
    resource in the members an operation acts on, and its own resource in
    members the operation does not have (the probe's injections): every such
    call is refused, and the other resources are untouched."""

    def test_injected_members_never_decide_the_permission(self):
        import json

        admin = client()
        for app in ("inj-shop", "inj-victim"):
            make_group(admin, app, "web")
            admin.create_deployment_group(applicationName=app, deploymentGroupName="prod", serviceRoleArn=ROLE,
                                          onPremisesInstanceTagFilters=[{"Key": "app", "Value": "none",
                                                                         "Type": "KEY_AND_VALUE"}])
        # A deployment of the limited key's own group, to inject its id.
        own = admin.create_deployment(applicationName="inj-shop", deploymentGroupName="prod", revision={
            "revisionType": "String", "string": {"content": "version: 0.0\nos: linux\n"}})["deploymentId"]
        victim_deployment = admin.create_deployment(
            applicationName="inj-victim", deploymentGroupName="prod",
            revision={"revisionType": "String", "string": {"content": "version: 0.0\nos: linux\n"}})["deploymentId"]
        app_key = json.loads(ferry("keys", "create", "--role", "deployer", "--scope", "inj-shop", "--json"))
        group_key = json.loads(ferry("keys", "create", "--role", "deployer", "--scope", "inj-shop/prod", "--json"))
        own_arn = f"arn:aws:codedeploy:{harness.REGION}:000000000000:application:inj-shop"
        own_group_arn = f"arn:aws:codedeploy:{harness.REGION}:000000000000:deploymentgroup:inj-shop/prod"
        victim_arn = f"arn:aws:codedeploy:{harness.REGION}:000000000000:application:inj-victim"
        injections = {"applicationName": "inj-shop", "deploymentGroupName": "prod",
                      "currentDeploymentGroupName": "prod", "deploymentId": own, "resourceArn": own_arn,
                      "ResourceArn": own_group_arn}
        # What each mutating operation names when it is about the victim.
        victim = {
            "applicationName": "inj-victim", "newApplicationName": "inj-victim2", "deploymentGroupName": "web",
            "currentDeploymentGroupName": "web", "newDeploymentGroupName": "web2", "deploymentId": victim_deployment,
            "ResourceArn": victim_arn, "Tags": [{"Key": "k", "Value": "v"}], "TagKeys": ["k"],
            "serviceRoleArn": ROLE, "deploymentConfigName": "inj-config",
            "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 0}, "instanceName": "inj-host",
            "iamUserArn": "arn:aws:iam::000000000000:user/x", "instanceNames": ["inj-host"],
            "tags": [{"Key": "k", "Value": "v"}], "tokenName": "t", "externalId": "x",
            "revision": {"revisionType": "String", "string": {"content": "version: 0.0\nos: linux\n"}},
            "lifecycleEventHookExecutionId": "x", "status": "Succeeded",
        }
        model = admin.meta.service_model
        refused = 0
        for name in model.operation_names:
            if name.startswith(("Get", "List", "BatchGet")):
                continue
            members = model.operation_model(name).input_shape.members
            body = {m: victim[m] for m in members if m in victim}
            for member, value in injections.items():
                if member in members:
                    continue
                for key in (app_key, group_key):
                    status, code = raw_call(key, name, {**body, member: value})
                    self.assertIn(code, ("SerializationException", "AccessDeniedException"),
                                  f"{name} with an injected {member} as {key['access_key_id']}: {status} {code}")
                    refused += 1
        self.assertGreater(refused, 150)
        # The victim is as it was.
        self.assertEqual(admin.get_application(applicationName="inj-victim")["application"]["applicationName"],
                         "inj-victim")
        self.assertEqual(sorted(admin.list_deployment_groups(applicationName="inj-victim")["deploymentGroups"]),
                         ["prod", "web"])
        self.assertEqual(admin.list_tags_for_resource(ResourceArn=victim_arn)["Tags"], [])
        self.assertEqual(len(admin.list_deployments(applicationName="inj-victim",
                                                    deploymentGroupName="prod")["deployments"]), 1)
        # The limited keys still do what they may, through the real members.
        status, code = raw_call(app_key, "TagResource", {"ResourceArn": own_arn, "Tags": [{"Key": "k", "Value": "v"}]})
        self.assertEqual((status, code), (200, None))
        status, code = raw_call(group_key, "TagResource", {"ResourceArn": own_group_arn, "Tags": [{"Key": "k"}]})
        self.assertEqual((status, code), (200, None))
        status, code = raw_call(group_key, "TagResource", {"ResourceArn": own_arn, "Tags": [{"Key": "k"}]})
        self.assertEqual(code, "AccessDeniedException")

    def test_the_operation_and_every_amz_header_must_be_signed(self):
        # A captured GetApplication cannot be replayed as DeleteApplication.
        import json
        key = json.loads(ferry("keys", "create", "--role", "admin", "--json"))
        client().create_application(applicationName="inj-replay")
        body = {"applicationName": "inj-replay"}
        self.assertEqual(raw_call(key, "GetApplication", body)[0], 200)
        # Signed without X-Amz-Target, the header added afterwards.
        from botocore.auth import SigV4Auth
        original = SigV4Auth.headers_to_sign

        def without_target(self, request):
            names = original(self, request)
            del names["x-amz-target"]
            return names

        SigV4Auth.headers_to_sign = without_target
        try:
            status, code = raw_call(key, "DeleteApplication", body)
        finally:
            SigV4Auth.headers_to_sign = original
        self.assertEqual((status, code), (400, "IncompleteSignatureException"))
        self.assertEqual(client().get_application(applicationName="inj-replay")["application"]["applicationName"],
                         "inj-replay")
        # A credential scoped to another service is refused too.
        import urllib.error
        import urllib.request
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        request = AWSRequest(method="POST", url=harness.ENDPOINT + "/", data=json.dumps(body).encode(), headers={
            "X-Amz-Target": "CodeDeploy_20141006.GetApplication", "Content-Type": "application/x-amz-json-1.1"})
        SigV4Auth(Credentials(key["access_key_id"], key["secret_access_key"]), "s3", harness.REGION).add_auth(request)
        try:
            harness.urlopen(urllib.request.Request(request.url, data=request.body, headers=dict(request.headers.items()),
                                                   method="POST"))
            raise AssertionError("a request signed for s3 was answered")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.headers["x-amzn-ErrorType"], "IncompleteSignatureException")


class ModelFile(unittest.TestCase):
    def test_ferrys_copy_of_the_input_members_is_botocores(self):
        """crates/ferry-aws/model-inputs.json (which a unit test holds every
        input struct to) says what the installed botocore's model says."""
        import json
        path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "ferry-aws", "model-inputs.json")
        with open(path) as f:
            ours = json.load(f)
        model = client().meta.service_model
        for name in model.operation_names:
            shape = model.operation_model(name).input_shape
            self.assertEqual(ours["operations"][name], list(shape.members), name)
        self.assertEqual(sorted(ours["operations"]), sorted(model.operation_names))
        seen = {}

        def walk(shape):
            if shape.type_name == "structure":
                if shape.name in seen:
                    return
                seen[shape.name] = list(shape.members)
                for member in shape.members.values():
                    walk(member)
            elif shape.type_name == "list":
                walk(shape.member)
            elif shape.type_name == "map":
                walk(shape.key)
                walk(shape.value)

        for name in model.operation_names:
            for member in model.operation_model(name).input_shape.members.values():
                walk(member)
        self.assertEqual(ours["shapes"], seen)

    def test_ferrys_copy_of_codebuilds_input_members_is_botocores(self):
        """crates/ferry-aws/codebuild-model-inputs.json, likewise (also run
        without a server by ferry-aws's tests/codebuild_botocore.rs)."""
        import codebuild_model
        self.assertEqual(codebuild_model.input_problems(), [])
