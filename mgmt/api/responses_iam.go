package api

// Response tables of the identity and account commands (accounts, users, domains, roles,
// sessions, limits), of jobs, events and tags, and of discovery.

// userFields are UserResponse's.
var userFields = []Field{
	f("id", rString, "the user's id"),
	f("username", rString, "the user's login name"),
	f("firstname", rString, "the user's first name"),
	f("lastname", rString, "the user's last name"),
	f("email", rString, "the user's email address"),
	f("timezone", rString, "the user's time zone"),
	f("created", rDate, "when the user was created"),
	f("state", rString, "the user's state: enabled, disabled or locked"),
	f("account", rString, "the name of the user's account"),
	f("accountid", rString, "the id of the user's account"),
	f("accounttype", rInt, "the type of the user's account: 0 user, 1 root admin, 2 domain admin"),
	f("domainid", rString, "the id of the user's domain"),
	f("domain", rString, "the name of the user's domain"),
	f("roleid", rString, "the id of the role of the user's account"),
	f("rolename", rString, "the name of that role"),
	f("roletype", rString, "the type of that role: Admin, ResourceAdmin, DomainAdmin or User"),
	f("apikey", rString, "the user's API key"),
	f("isdefault", rBool, "whether the user was created with the system and cannot be removed"),
	f("usersource", rString, "where the user is authenticated: native, ldap, saml2, ..."),
	f("is2faenabled", rBool, "whether the user has two-factor authentication on"),
	f("iscallerchilddomain", rBool, "whether the user's domain is the caller's or below it"),
}

// userResponse is CloudStack's UserResponse.
var userResponse = join(jobFields, userFields)

// accountResponse is CloudStack's AccountResponse (the fields Atoll renders).
var accountResponse = join(jobFields, []Field{
	f("id", rString, "the account's id"),
	f("name", rString, "the account's name"),
	f("accounttype", rInt, "the account's type: 0 user, 1 root admin, 2 domain admin"),
	f("domainid", rString, "the id of the account's domain"),
	f("domain", rString, "the name of the account's domain"),
	f("domainpath", rString, "the path of the account's domain"),
	f("state", rString, "the account's state: enabled, disabled or locked"),
	f("isdefault", rBool, "whether the account was created with the system and cannot be removed"),
	f("iscleanuprequired", rBool, "whether removing the account's resources has yet to finish"),
	f("created", rDate, "when the account was created"),
	f("roleid", rString, "the id of the account's role"),
	f("rolename", rString, "the name of the account's role"),
	f("roletype", rString, "the type of the account's role: Admin, ResourceAdmin, DomainAdmin or User"),
	f("networkdomain", rString, "the DNS domain of the account's networks"),
	nested("user", rList, "the account's users", userFields...),
})

// userKeysResponse answers registerUserKeys and getUserKeys.
var userKeysResponse = join(jobFields, []Field{
	f("apikey", rString, "the user's API key"),
	f("secretkey", rString, "the user's secret key, which signs its requests"),
})

// domainResponse is CloudStack's DomainResponse (the fields Atoll renders).
var domainResponseFields = join(jobFields, []Field{
	f("id", rString, "the domain's id"),
	f("name", rString, "the domain's name"),
	f("level", rInt, "the domain's depth in the tree, ROOT being 0"),
	f("path", rString, "the domain's path, ROOT/child/..."),
	f("parentdomainid", rString, "the id of the domain's parent"),
	f("parentdomainname", rString, "the name of the domain's parent"),
	f("haschild", rBool, "whether the domain has subdomains"),
	f("networkdomain", rString, "the DNS domain of the domain's networks"),
	f("state", rString, "the domain's state: Active or Inactive"),
	f("created", rDate, "when the domain was created"),
})

// roleResponse is CloudStack's RoleResponse.
var roleResponse = join(jobFields, []Field{
	f("id", rString, "the role's id"),
	f("name", rString, "the role's name"),
	f("type", rString, "the role's type: Admin, ResourceAdmin, DomainAdmin or User"),
	f("description", rString, "the role's description"),
	f("isdefault", rBool, "whether the role came with the system"),
	f("ispublic", rBool, "whether every admin may see and assign the role"),
	f("state", rString, "the role's state: enabled or disabled"),
})

// rolePermissionResponse is CloudStack's RolePermissionResponse.
var rolePermissionResponse = join(jobFields, []Field{
	f("id", rString, "the rule's id"),
	f("roleid", rString, "the id of the rule's role"),
	f("rolename", rString, "the name of the rule's role"),
	f("rule", rString, "the command name or wildcard pattern the rule matches"),
	f("permission", rString, "whether the rule allows or denies the commands it matches"),
	f("description", rString, "the rule's description"),
})

// loginResponse is CloudStack's LoginCmdResponse (its flags are strings there).
var loginResponse = join(jobFields, []Field{
	f("username", rString, "the user's login name"),
	f("userid", rString, "the user's id"),
	f("domainid", rString, "the id of the user's domain"),
	f("account", rString, "the name of the user's account"),
	f("type", rString, "the type of the user's account: 0 user, 1 root admin, 2 domain admin"),
	f("firstname", rString, "the user's first name"),
	f("lastname", rString, "the user's last name"),
	f("timezone", rString, "the user's time zone"),
	f("timeout", rInt, "how long the session lasts without a request, in seconds"),
	f("sessionkey", rString, "the key to send with each request of the session"),
	f("registered", rString, "whether the user is registered"),
	f("is2faenabled", rString, "whether the user has two-factor authentication on"),
	f("is2faverified", rString, "whether the session's second factor has been checked"),
	f("issuerfor2fa", rString, "the provider of the user's second factor"),
})

// logoutResponse is CloudStack's LogoutCmdResponse.
var logoutResponse = join(jobFields, []Field{
	f("description", rString, "the outcome: success"),
})

// asyncJobResponse is CloudStack's AsyncJobResponse (its jobid and jobstatus are the job's).
var asyncJobResponse = join(jobFields, []Field{
	f("accountid", rString, "the id of the account that started the job"),
	f("userid", rString, "the id of the user that started the job"),
	f("cmd", rString, "the command the job runs"),
	f("jobprocstatus", rInt, "the job's progress status"),
	f("jobresultcode", rInt, "the job's result code: 0 when it succeeded"),
	f("jobresulttype", rString, "the kind of the job's result: object"),
	f("jobresult", "responseobject", "the job's result: the command's response, or its error"),
	f("jobinstancetype", rString, "the kind of object the job acts on"),
	f("jobinstanceid", rString, "the id of the object the job acts on"),
	f("created", rDate, "when the job was started"),
	f("completed", rDate, "when the job ended"),
})

// eventResponse is CloudStack's EventResponse.
var eventResponse = join(jobFields, []Field{
	f("id", rString, "the event's id"),
	f("type", rString, "the event's type, e.g. VM.CREATE"),
	f("level", rString, "the event's level: INFO, WARN or ERROR"),
	f("description", rString, "what happened"),
	f("state", rString, "the event's state: Created, Scheduled, Started or Completed"),
	f("created", rDate, "when the event happened"),
	f("archived", rBool, "whether the event is archived"),
	f("username", rString, "the user whose action caused the event"),
	f("account", rString, "the account of that user"),
	f("domainid", rString, "the id of that account's domain"),
	f("domain", rString, "the name of that account's domain"),
	f("domainpath", rString, "the path of that account's domain"),
	f("resourceid", rString, "the id of the object the event is about"),
	f("resourcetype", rString, "the kind of object the event is about"),
})

// tagResponse is CloudStack's ResourceTagResponse.
var tagResponse = join(jobFields, tagFields)

// resourceLimitResponse is CloudStack's ResourceLimitResponse.
var resourceLimitResponse = join(jobFields, []Field{
	f("resourcetype", rString, "the resource type's number: 0 VMs, 1 public IPs, 2 volumes, ..."),
	f("resourcetypename", rString, "the resource type's name: user_vm, public_ip, volume, ..."),
	f("max", rLong, "the limit (-1 for none); GiB for storage"),
	f("account", rString, "the account the limit applies to"),
	f("domainid", rString, "the id of the domain the limit applies to (or the account's)"),
	f("domain", rString, "the name of that domain"),
	f("domainpath", rString, "the path of that domain"),
})

// resourceCountResponse is CloudStack's ResourceCountResponse.
var resourceCountResponse = join(jobFields, []Field{
	f("resourcetype", rString, "the resource type's number: 0 VMs, 1 public IPs, 2 volumes, ..."),
	f("resourcetypename", rString, "the resource type's name: user_vm, public_ip, volume, ..."),
	f("resourcecount", rLong, "how much of the resource is in use"),
	f("account", rString, "the account counted"),
	f("domainid", rString, "the id of the domain counted (or the account's)"),
	f("domain", rString, "the name of that domain"),
	f("domainpath", rString, "the path of that domain"),
})

// apiResponseFields are ApiResponseResponse's, one response field of a command.
var apiResponseFields = []Field{
	f("name", rString, "the field's name"),
	f("description", rString, "what the field holds"),
	f("type", rString, "the field's type"),
	f("response", rSet, "the fields of a nested object"),
}

// apiDiscoveryResponse is CloudStack's ApiDiscoveryResponse, which answers listApis.
var apiDiscoveryResponse = join(jobFields, []Field{
	f("name", rString, "the command's name"),
	f("description", rString, "what the command does"),
	f("since", rString, "the version the command first appeared in"),
	f("isasync", rBool, "whether the command runs as an asynchronous job"),
	f("related", rString, "the commands answering the same kind of object, comma-separated"),
	nested("params", rSet, "the command's parameters",
		f("name", rString, "the parameter's name"),
		f("description", rString, "what the parameter is for"),
		f("type", rString, "the parameter's type"),
		f("length", rPInt, "the parameter's maximum length"),
		f("required", rBool, "whether the parameter must be given"),
		f("since", rString, "the version the parameter first appeared in"),
		f("related", rString, "the commands that list the objects the parameter names, comma-separated")),
	nested("response", rSet, "the fields of the command's response", apiResponseFields...),
})

// capabilitiesResponse is CloudStack's CapabilitiesResponse, which answers listCapabilities.
var capabilitiesResponse = join(jobFields, []Field{
	f("cloudstackversion", rString, "the CloudStack API version the server speaks"),
	f("securitygroupsenabled", rBool, "whether any zone uses security groups"),
	f("dynamicrolesenabled", rBool, "whether roles are dynamic (always true)"),
	f("userpublictemplateenabled", rBool, "whether users may make their templates public"),
	f("supportELB", rString, "whether elastic load balancing is supported"),
	f("projectinviterequired", rBool, "whether joining a project takes an invitation"),
	f("allowusercreateprojects", rBool, "whether users may create projects"),
	f("customdiskofferingminsize", rLong, "the smallest size of a custom disk, in GiB"),
	f("customdiskofferingmaxsize", rLong, "the largest size of a custom disk, in GiB"),
	f("regionsecondaryenabled", rBool, "whether secondary storage is region-wide"),
	f("kvmsnapshotenabled", rBool, "whether VM snapshots are supported on KVM"),
	f("allowuserviewdestroyedvm", rBool, "whether users may see their destroyed VMs"),
	f("allowuserexpungerecovervm", rBool, "whether users may expunge and recover their VMs"),
	f("allowuserexpungerecovervolume", rBool, "whether users may expunge and recover their volumes"),
	f("allowuserviewalldomainaccounts", rBool, "whether users may see every account of their domain"),
	f("allowuserforcestopvm", rBool, "whether users may force their VMs to stop"),
	f("kubernetesserviceenabled", rBool, "whether the Kubernetes service is on"),
	f("kubernetesclusterexperimentalfeaturesenabled", rBool, "whether experimental Kubernetes features are on"),
	f("customhypervisordisplayname", rString, "the display name of the Custom hypervisor"),
	f("defaultuipagesize", rLong, "the default page size of the web UI's lists"),
	f("instancesstatsretentiontime", rInt, "how long VM statistics are kept, in minutes"),
	f("instancesstatsuseronly", rBool, "whether only users' VMs have statistics kept"),
	f("instancesdisksstatsretentionenabled", rBool, "whether VM disk statistics are kept"),
	f("instancesdisksstatsretentiontime", rInt, "how long VM disk statistics are kept, in minutes"),
	f("sharedfsvmmincpucount", rInt, "the fewest CPU cores of a shared file system VM"),
	f("sharedfsvmminramsize", rInt, "the least memory of a shared file system VM, in MiB"),
	f("dynamicscalingenabled", rBool, "whether VMs may change CPU and memory while they run"),
	f("apilimitinterval", rInt, "the length of the API rate-limit window, in seconds (while limits are on)"),
	f("apilimitmax", rInt, "how many requests an account may make per window (while limits are on)"),
})
