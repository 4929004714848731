import NIOCore
import RivuletBroker
import RivuletCore
import RivuletStorage
import RivuletWire
import Testing

@Suite("Topic lifecycle, Metadata, configs")
struct TopicLifecycleTests {
    @Test("CreateTopics creates topics and reports every error case")
    func createTopics_errors() async throws {
        try await withBroker(.memory) { fixture in
            let response = try await fixture.send(CreateTopicsRequest(topics: [
                .init(name: "ok", numPartitions: 3, replicationFactor: 1, configs: [.init(name: "retention.ms", value: "1000")]),
                .init(name: "defaults", numPartitions: -1, replicationFactor: -1),
                .init(name: "bad name!", numPartitions: 1, replicationFactor: 1),
                .init(name: "zero", numPartitions: 0, replicationFactor: 1),
                .init(name: "rf3", numPartitions: 1, replicationFactor: 3),
                .init(name: "rf0", numPartitions: 1, replicationFactor: 0),
                .init(name: "badconfig", numPartitions: 1, replicationFactor: 1, configs: [.init(name: "retention.ms", value: "soon")]),
                .init(name: "unknownconfig", numPartitions: 1, replicationFactor: 1, configs: [.init(name: "no.such", value: "1")]),
                .init(name: "nullconfig", numPartitions: 1, replicationFactor: 1, configs: [.init(name: "retention.ms", value: nil)]),
                .init(name: "compact", numPartitions: 1, replicationFactor: 1, configs: [.init(name: "cleanup.policy", value: "compact,shred")]),
                .init(name: "twice", numPartitions: 1, replicationFactor: 1),
                .init(name: "twice", numPartitions: 2, replicationFactor: 1),
                .init(name: "assigned", numPartitions: -1, replicationFactor: -1,
                      assignments: [.init(partitionIndex: 0, brokerIds: [0]), .init(partitionIndex: 1, brokerIds: [0])]),
                .init(name: "badassign", numPartitions: -1, replicationFactor: -1, assignments: [.init(partitionIndex: 0, brokerIds: [9])]),
                .init(name: "gapassign", numPartitions: -1, replicationFactor: -1, assignments: [.init(partitionIndex: 1, brokerIds: [0])]),
                .init(name: "both", numPartitions: 2, replicationFactor: -1, assignments: [.init(partitionIndex: 0, brokerIds: [0])]),
                .init(name: "huge", numPartitions: Int32.max, replicationFactor: 1),
            ]), version: 7)
            func result(_ name: String) -> [CreateTopicsResponse.CreatableTopicResult] { response.topics.filter { $0.name == name } }
            let ok = try #require(result("ok").first)
            #expect(ok.errorCode == 0)
            #expect(ok.numPartitions == 3 && ok.replicationFactor == 1)
            #expect(ok.topicId != .zero)
            #expect(ok.configs?.first { $0.name == "retention.ms" }?.value == "1000")
            #expect(ok.configs?.first { $0.name == "retention.ms" }?.configSource == ConfigSource.dynamicTopicConfig.rawValue)
            #expect(ok.configs?.first { $0.name == "segment.bytes" }?.configSource == ConfigSource.defaultConfig.rawValue)
            #expect(result("defaults").first?.numPartitions == 1)
            #expect(result("bad name!").first?.errorCode == KafkaErrorCode.invalidTopicException.code16)
            #expect(result("zero").first?.errorCode == KafkaErrorCode.invalidPartitions.code16)
            #expect(result("rf3").first?.errorCode == KafkaErrorCode.invalidReplicationFactor.code16)
            #expect(result("rf0").first?.errorCode == KafkaErrorCode.invalidReplicationFactor.code16)
            #expect(result("badconfig").first?.errorCode == KafkaErrorCode.invalidConfig.code16)
            #expect(result("unknownconfig").first?.errorCode == KafkaErrorCode.invalidConfig.code16)
            #expect(result("nullconfig").first?.errorCode == KafkaErrorCode.invalidConfig.code16)
            #expect(result("compact").first?.errorCode == KafkaErrorCode.invalidConfig.code16)
            #expect(result("twice").map(\.errorCode) == [KafkaErrorCode.invalidRequest.code16, KafkaErrorCode.invalidRequest.code16])
            #expect(result("assigned").first?.errorCode == 0)
            #expect(result("assigned").first?.numPartitions == 2)
            #expect(result("badassign").first?.errorCode == KafkaErrorCode.invalidReplicaAssignment.code16)
            #expect(result("gapassign").first?.errorCode == KafkaErrorCode.invalidReplicaAssignment.code16)
            #expect(result("both").first?.errorCode == KafkaErrorCode.invalidRequest.code16)
            #expect(result("huge").first?.errorCode == KafkaErrorCode.invalidPartitions.code16)
            for failed in response.topics where failed.errorCode != 0 { #expect(failed.errorMessage != nil, "\(failed.name)") }
            // Exists already; collides with '.' versus '_'.
            let again = try await fixture.send(CreateTopicsRequest(topics: [
                .init(name: "ok", numPartitions: 1, replicationFactor: 1),
                .init(name: "a.b", numPartitions: 1, replicationFactor: 1),
            ]), version: 4)
            #expect(again.topics[0].errorCode == KafkaErrorCode.topicAlreadyExists.code16)
            #expect(again.topics[1].errorCode == 0)
            let collision = try await fixture.send(CreateTopicsRequest(topics: [.init(name: "a_b", numPartitions: 1, replicationFactor: 1)]), version: 4)
            #expect(collision.topics[0].errorCode == KafkaErrorCode.invalidTopicException.code16)
            // validateOnly creates nothing.
            let dry = try await fixture.send(CreateTopicsRequest(topics: [.init(name: "dry", numPartitions: 2, replicationFactor: 1)],
                                                                 validateOnly: true), version: 7)
            #expect(dry.topics[0].errorCode == 0 && dry.topics[0].topicId == .zero && dry.topics[0].numPartitions == 2)
            let metadata = try await fixture.send(MetadataRequest(topics: nil), version: 12)
            #expect(Set(metadata.topics.compactMap(\.name)) == ["ok", "defaults", "assigned", "a.b"])
            // Every version answers.
            for version in Int16(0) ... 7 {
                let created = try await fixture.send(CreateTopicsRequest(topics: [.init(name: "v\(version)", numPartitions: 1, replicationFactor: 1)]),
                                                     version: version)
                #expect(created.topics[0].errorCode == 0, "v\(version)")
            }
        }
    }

    @Test("Metadata: all topics, named topics, topic ids, auto-creation")
    func metadata() async throws {
        try await withBroker(.memory, customize: { $0.numPartitions = 3 }) { fixture in
            let created = try await fixture.createTopic("known", partitions: 2)
            // v0: an empty list means all topics; v1+: null means all, empty means none.
            let v0 = try await fixture.send(MetadataRequest(topics: []), version: 0)
            #expect(v0.topics.map(\.name) == ["known"])
            let none = try await fixture.send(MetadataRequest(topics: [], allowAutoTopicCreation: false), version: 4)
            #expect(none.topics.isEmpty)
            let all = try await fixture.send(MetadataRequest(topics: nil), version: 12)
            let known = try #require(all.topics.first)
            #expect(known.topicId == created.topicId)
            #expect(known.partitions.map(\.partitionIndex) == [0, 1])
            #expect(known.partitions.allSatisfy { $0.leaderId == 0 && $0.replicaNodes == [0] && $0.isrNodes == [0] })
            #expect(all.brokers.map(\.nodeId) == [0])
            #expect(all.controllerId == 0)
            #expect(all.clusterId?.count == 22)
            // Auto-creation: allowed by the request, created with num.partitions.
            let auto = try await fixture.send(MetadataRequest(topics: [.init(name: "auto")], allowAutoTopicCreation: true), version: 9)
            #expect(auto.topics[0].errorCode == 0)
            #expect(auto.topics[0].partitions.count == 3)
            let refused = try await fixture.send(MetadataRequest(topics: [.init(name: "noauto")], allowAutoTopicCreation: false), version: 9)
            #expect(refused.topics[0].errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            let invalid = try await fixture.send(MetadataRequest(topics: [.init(name: "bad/name")]), version: 9)
            #expect(invalid.topics[0].errorCode == KafkaErrorCode.invalidTopicException.code16)
            // Before v4 auto-creation is always requested.
            let old = try await fixture.send(MetadataRequest(topics: [.init(name: "old-auto")]), version: 3)
            #expect(old.topics[0].errorCode == 0)
            // By topic id (v10+).
            let byId = try await fixture.send(MetadataRequest(topics: [.init(topicId: created.topicId, name: nil),
                                                                       .init(topicId: KafkaUUID(mostSignificantBits: 9, leastSignificantBits: 9), name: nil)]),
                                              version: 12)
            #expect(byId.topics[0].name == "known")
            #expect(byId.topics[1].errorCode == KafkaErrorCode.unknownTopicId.code16)
            // Every version answers.
            for version in Int16(0) ... 12 {
                let response = try await fixture.send(MetadataRequest(topics: [.init(name: "known")], allowAutoTopicCreation: false), version: version)
                #expect(response.topics.first?.partitions.count == 2, "v\(version)")
            }
        }
    }

    @Test("auto-creation follows auto.create.topics.enable")
    func metadata_autoCreateDisabled() async throws {
        try await withBroker(.memory, customize: { $0.autoCreateTopicsEnable = false }) { fixture in
            let response = try await fixture.send(MetadataRequest(topics: [.init(name: "auto")], allowAutoTopicCreation: true), version: 9)
            #expect(response.topics[0].errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
        }
    }

    @Test("DeleteTopics by name and by id; data and metadata go", arguments: StorageKind.allCases)
    func deleteTopics(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("a", partitions: 2)
            let b = try await fixture.createTopic("b")
            _ = try await fixture.produce("a", records: try makeBatch(count: 3))
            let byName = try await fixture.send(DeleteTopicsRequest(topicNames: ["a", "nope"], timeoutMs: 1000), version: 5)
            #expect(byName.responses.map(\.errorCode) == [0, KafkaErrorCode.unknownTopicOrPartition.code16])
            let byId = try await fixture.send(DeleteTopicsRequest(topics: [
                .init(name: nil, topicId: b.topicId),
                .init(name: nil, topicId: KafkaUUID(mostSignificantBits: 5, leastSignificantBits: 5)),
                .init(name: "x", topicId: b.topicId),
            ]), version: 6)
            #expect(byId.responses.map(\.errorCode) == [0, KafkaErrorCode.unknownTopicId.code16, KafkaErrorCode.invalidRequest.code16])
            #expect(byId.responses[0].name == "b")
            let metadata = try await fixture.send(MetadataRequest(topics: nil), version: 12)
            #expect(metadata.topics.isEmpty)
            #expect(try fixture.broker.replicaManager.allPartitions.isEmpty)
            #expect(try fixture.broker.storage.partitions().isEmpty)
            #expect(try await fixture.produce("a", records: try makeBatch(count: 1)).errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            // A topic created again under the same name starts empty, with a new id.
            let again = try await fixture.createTopic("a")
            #expect(again.topicId != b.topicId)
            #expect(try await fixture.fetch("a", offset: 0).highWatermark == 0)
        }
    }

    @Test("DeleteTopics is refused when delete.topic.enable is false")
    func deleteTopics_disabled() async throws {
        try await withBroker(.memory, customize: { $0.deleteTopicEnable = false }) { fixture in
            try await fixture.createTopic("kept")
            let response = try await fixture.send(DeleteTopicsRequest(topicNames: ["kept"]), version: 4)
            #expect(response.responses[0].errorCode == KafkaErrorCode.topicDeletionDisabled.code16)
        }
    }

    @Test("CreatePartitions adds partitions and reports its error cases", arguments: StorageKind.allCases)
    func createPartitions(kind: StorageKind) async throws {
        try await withBroker(kind) { fixture in
            try await fixture.createTopic("grow", partitions: 2)
            let response = try await fixture.send(CreatePartitionsRequest(topics: [
                .init(name: "grow", count: 4, assignments: nil),
                .init(name: "missing", count: 4, assignments: nil),
            ], timeoutMs: 1000, validateOnly: false), version: 3)
            #expect(response.results.map(\.errorCode) == [0, KafkaErrorCode.unknownTopicOrPartition.code16])
            #expect(try await fixture.produce("grow", partition: 3, records: try makeBatch(count: 1)).errorCode == 0)
            let errors = try await fixture.send(CreatePartitionsRequest(topics: [
                .init(name: "grow", count: 3, assignments: nil),
            ]), version: 0)
            #expect(errors.results[0].errorCode == KafkaErrorCode.invalidPartitions.code16)
            let same = try await fixture.send(CreatePartitionsRequest(topics: [.init(name: "grow", count: 4)]), version: 1)
            #expect(same.results[0].errorCode == KafkaErrorCode.invalidPartitions.code16)
            #expect(same.results[0].errorMessage == "Topic already has 4 partitions.")
            let badAssignment = try await fixture.send(CreatePartitionsRequest(topics: [
                .init(name: "grow", count: 6, assignments: [.init(brokerIds: [0])]),
            ]), version: 2)
            #expect(badAssignment.results[0].errorCode == KafkaErrorCode.invalidReplicaAssignment.code16)
            let duplicate = try await fixture.send(CreatePartitionsRequest(topics: [.init(name: "grow", count: 5), .init(name: "grow", count: 6)]),
                                                   version: 3)
            #expect(duplicate.results.map(\.errorCode) == [KafkaErrorCode.invalidRequest.code16, KafkaErrorCode.invalidRequest.code16])
            let dry = try await fixture.send(CreatePartitionsRequest(topics: [.init(name: "grow", count: 8)], validateOnly: true), version: 3)
            #expect(dry.results[0].errorCode == 0)
            let metadata = try await fixture.send(MetadataRequest(topics: [.init(name: "grow")]), version: 9)
            #expect(metadata.topics[0].partitions.count == 4)
        }
    }

    @Test("DescribeConfigs for topics and the broker; AlterConfigs replaces topic overrides")
    func describeAndAlterConfigs() async throws {
        try await withBroker(.memory, customize: { $0.logRetentionMs = 3_600_000 }) { fixture in
            try await fixture.createTopic("c", configs: ["retention.bytes": "12345"])
            let response = try await fixture.send(DescribeConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "c", configurationKeys: nil),
                .init(resourceType: 2, resourceName: "c", configurationKeys: ["retention.ms", "segment.bytes"]),
                .init(resourceType: 2, resourceName: "missing", configurationKeys: nil),
                .init(resourceType: 4, resourceName: "0", configurationKeys: ["log.retention.ms", "num.partitions"]),
                .init(resourceType: 4, resourceName: "7", configurationKeys: nil),
                .init(resourceType: 3, resourceName: "x", configurationKeys: nil),
                .init(resourceType: 2, resourceName: "bad/name", configurationKeys: nil),
                .init(resourceType: 4, resourceName: "", configurationKeys: nil),
                .init(resourceType: 2, resourceName: "c", configurationKeys: []),
            ], includeSynonyms: true, includeDocumentation: true), version: 4)
            let topic = response.results[0]
            #expect(topic.errorCode == 0)
            let retentionBytes = try #require(topic.configs.first { $0.name == "retention.bytes" })
            #expect(retentionBytes.value == "12345")
            #expect(retentionBytes.configSource == ConfigSource.dynamicTopicConfig.rawValue)
            #expect(retentionBytes.synonyms.map(\.name) == ["retention.bytes", "log.retention.bytes"])
            #expect(retentionBytes.configType == ConfigType.long.rawValue)
            #expect(retentionBytes.documentation?.isEmpty == false)
            let retentionMs = try #require(topic.configs.first { $0.name == "retention.ms" })
            #expect(retentionMs.value == "3600000")
            #expect(retentionMs.configSource == ConfigSource.staticBrokerConfig.rawValue)
            #expect(Set(topic.configs.map(\.name)).isSuperset(of: ["cleanup.policy", "max.message.bytes", "segment.bytes", "min.insync.replicas"]))
            #expect(response.results[1].configs.map(\.name) == ["retention.ms", "segment.bytes"])
            #expect(response.results[2].errorCode == KafkaErrorCode.unknownTopicOrPartition.code16)
            #expect(response.results[3].configs.map(\.value) == ["3600000", "1"])
            #expect(response.results[4].errorCode == KafkaErrorCode.invalidRequest.code16)
            #expect(response.results[5].errorCode == KafkaErrorCode.invalidRequest.code16)
            #expect(response.results[6].errorCode == KafkaErrorCode.invalidTopicException.code16)
            #expect(response.results[7].errorCode == 0 && response.results[7].configs.isEmpty, "no dynamic broker defaults")
            #expect(response.results[8].configs.count == topic.configs.count, "an empty key list means all")
            for version in Int16(0) ... 4 {
                let described = try await fixture.send(DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "c", configurationKeys: nil)]),
                                                       version: version)
                #expect(described.results[0].configs.first { $0.name == "retention.bytes" }?.value == "12345", "v\(version)")
            }
            // AlterConfigs replaces all overrides.
            let altered = try await fixture.send(AlterConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "c", configs: [.init(name: "max.message.bytes", value: "100")]),
                .init(resourceType: 2, resourceName: "missing", configs: []),
                .init(resourceType: 4, resourceName: "0", configs: [.init(name: "num.partitions", value: "2")]),
            ], validateOnly: false), version: 2)
            #expect(altered.responses.map(\.errorCode) == [0, KafkaErrorCode.unknownTopicOrPartition.code16, KafkaErrorCode.invalidRequest.code16])
            let after = try await fixture.send(DescribeConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "c", configurationKeys: ["retention.bytes", "max.message.bytes"]),
            ]), version: 1)
            #expect(after.results[0].configs.map(\.value) == ["100", "-1"])
            // The new limit applies to produce at once.
            #expect(try await fixture.produce("c", records: try makeBatch(count: 1, valueBytes: 100)).errorCode == KafkaErrorCode.messageTooLarge.code16)
            #expect(try await fixture.produce("c", records: try makeBatch([TestRecord(value: "")])).errorCode == 0)
            let invalid = try await fixture.send(AlterConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: "c", configs: [.init(name: "segment.bytes", value: "1")]),
            ]), version: 0)
            #expect(invalid.responses[0].errorCode == KafkaErrorCode.invalidConfig.code16)
        }
    }
}
