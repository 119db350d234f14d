#!/bin/sh
mkdir -p /srv/hello
echo "installing $APPLICATION_NAME for deployment $DEPLOYMENT_ID"
