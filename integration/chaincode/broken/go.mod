module github.com/fabric-peer-k8s/fabric-peer-k8s/integration/chaincode/broken

go 1.22.0
