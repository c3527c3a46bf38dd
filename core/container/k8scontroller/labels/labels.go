/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package labels names the labels and annotations the Kubernetes chaincode
// VM (package k8scontroller) puts on the objects it creates, their fixed
// values, and selectors of those objects, for the VM and for the tools and
// tests that look for them. Values that depend on the peer or the chaincode
// (PeerID, ChaincodeHash, Run, Instance) are computed by the VM.
package labels

// Prefix starts every label and annotation key of the VM's own.
const Prefix = "fabric-peer-k8s/"

// Label keys the VM sets on every Pod, Secret, Job and DaemonSet it creates
// (chaincode Pods, their TLS Secrets, build Jobs and pre-pull DaemonSets,
// which pass them on to their Pods).
const (
	// Name is AppChaincode on chaincode Pods and their Secrets, AppBuild on
	// build Jobs and their Pods, AppPrePull on pre-pull DaemonSets and their
	// Pods.
	Name = "app.kubernetes.io/name"
	// Instance names the chaincode Pod (on the Pod and on its Secret), the
	// build Job (on the Job and its Pods) or the pre-pull DaemonSet (on the
	// DaemonSet and its Pods).
	Instance = "app.kubernetes.io/instance"
	// ManagedBy is ManagedByValue.
	ManagedBy = "app.kubernetes.io/managed-by"
	// Component is ComponentChaincode, ComponentBuild or ComponentPrePull.
	Component = "app.kubernetes.io/component"
	// PeerID is the ID of the peer that created the object, made a valid
	// label value.
	PeerID = Prefix + "peer-id"
	// ChaincodeHash is a hash of the chaincode's package ID.
	ChaincodeHash = Prefix + "chaincode-hash"
	// Run is the ID of the peer process (run) that created the object, so
	// that a later run can tell its own objects from those of earlier ones;
	// it is set whenever the VM has a run ID, as the peer's VM always does.
	Run = Prefix + "run"
)

// JobName is set by Kubernetes' Job controller on the pods of a Job.
const JobName = "batch.kubernetes.io/job-name"

// CCIDAnnotation holds the full package ID on chaincode Pods and Secrets,
// on build Jobs and on pre-pull DaemonSets, and on their Pods.
const CCIDAnnotation = Prefix + "ccid"

// Fixed label values.
const (
	// ManagedByValue is the ManagedBy label of every Pod, Secret and Job the
	// VM creates.
	ManagedByValue = "fabric-peer-k8s"
	// AppChaincode and AppBuild are the Name labels.
	AppChaincode = "fabric-chaincode"
	AppBuild     = "fabric-chaincode-build"
	AppPrePull   = "fabric-chaincode-prepull"
	// ComponentChaincode, ComponentBuild and ComponentPrePull are the
	// Component labels.
	ComponentChaincode = "chaincode"
	ComponentBuild     = "build"
	ComponentPrePull   = "prepull"
)

// Label selectors, in the syntax of metav1.ListOptions.LabelSelector.
const (
	// ManagedSelector selects every Pod, Secret and Job the VM creates, of
	// any peer.
	ManagedSelector = ManagedBy + "=" + ManagedByValue
	// ChaincodeSelector selects chaincode Pods and their TLS Secrets.
	ChaincodeSelector = ManagedSelector + "," + Component + "=" + ComponentChaincode
	// BuildSelector selects build Jobs and their Pods.
	BuildSelector = ManagedSelector + "," + Component + "=" + ComponentBuild
	// PrePullSelector selects pre-pull DaemonSets and their Pods.
	PrePullSelector = ManagedSelector + "," + Component + "=" + ComponentPrePull
)
