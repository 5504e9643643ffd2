"""AWS CloudTrail's LookupEvents on the shared endpoint (X-Amz-Target:
com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.*): the audit trail as the signed-in
principal's account sees it, plus one paramstore extension, VerifyAuditChain.

errors.py maps the AWS error codes, operations.py has one function per operation,
targets.py is the dispatch table.  The trail itself is read by kms_core/audit_lookup.py
(and kms_core/audit.py, verify); authorization goes through kms_core.port."""
