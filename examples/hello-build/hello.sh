#!/bin/sh
# The "application": prints a greeting.
echo "${GREETING:-hello}, world"
