// The model card after a drop or Ctrl+O: what the folder holds (architecture, parameters,
// format and bits per weight, context length, tokenizer, chat template), the load choices
// (device, context, KV cache type) and a memory estimate against the device's free memory.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Dialog {
    id: dialog
    property var inspector: null
    property var settings: null
    property var engine: null
    signal loadRequested(string path, string device, int context)

    readonly property var card: inspector ? inspector.card : ({})
    readonly property var devices: card && card.devices ? card.devices : []
    readonly property string device: deviceBox.currentIndex >= 0 && devices.length > deviceBox.currentIndex
                                     ? devices[deviceBox.currentIndex].id : "cpu"
    readonly property var estimate: inspector && card && card.path ? inspector.estimate(contextBox.value, cacheBox.currentText, device) : ({})

    title: card && card.name ? card.name : qsTr("Model")
    modal: true
    padding: 16
    width: Math.min(Overlay.overlay ? Overlay.overlay.width - 32 : 10000, fm.averageCharacterWidth * 100 + leftPadding + rightPadding)
    anchors.centerIn: Overlay.overlay

    onOpened: {
        const preferred = settings && settings.defaultContext > 0 ? settings.defaultContext : 4096
        contextBox.value = Math.min(preferred, card.contextLength || preferred)
        cacheBox.currentIndex = Math.max(0, cacheBox.find(settings ? settings.cacheType : "fp16"))
        deviceBox.currentIndex = 0
    }

    footer: DialogButtonBox {
        Button {
            text: qsTr("Load")
            highlighted: true
            DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole
            Accessible.name: qsTr("Load this model")
        }
        Button {
            text: qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
            Accessible.name: qsTr("Close the model card")
        }
    }
    onAccepted: loadRequested(card.path, device, contextBox.value)

    ColumnLayout {
        width: dialog.availableWidth
        spacing: 10

        Label {
            Layout.fillWidth: true
            text: dialog.card.path || ""
            elide: Text.ElideMiddle
            opacity: 0.7
            Accessible.name: qsTr("Folder: %1").arg(text)
        }

        GridLayout {
            columns: 4
            columnSpacing: 16
            rowSpacing: 4
            Layout.fillWidth: true
            CardField { label: qsTr("Architecture"); value: dialog.card.architecture || "" }
            CardField { label: qsTr("Parameters"); value: dialog.card.parametersText || "" }
            CardField { label: qsTr("Format"); value: dialog.card.formatText || "" }
            CardField { label: qsTr("Weights"); value: dialog.card.weightBytesText || "" }
            CardField { label: qsTr("Context length"); value: dialog.card.contextLength ? dialog.card.contextLength + "" : "" }
            CardField { label: qsTr("Layers"); value: dialog.card.layers ? qsTr("%1 (%2 heads, %3 KV)").arg(dialog.card.layers).arg(dialog.card.heads).arg(dialog.card.kvHeads) : "" }
            CardField { label: qsTr("Tokenizer"); value: dialog.card.tokenizer || "" }
            CardField { label: qsTr("Chat template"); value: dialog.card.chatTemplate || "" }
        }

        Label {
            Layout.fillWidth: true
            visible: dialog.card.loadedAsLlama === true
            wrapMode: Text.Wrap
            text: qsTr("This architecture is not on the supported list; its files are Llama-shaped, so it runs as Llama.")
            Accessible.name: text
        }

        MenuSeparator { Layout.fillWidth: true }

        GridLayout {
            columns: 2
            Layout.fillWidth: true
            Label { text: qsTr("Device"); Accessible.name: text }
            ComboBox {
                id: deviceBox
                Layout.fillWidth: true
                model: dialog.devices.map(d => d.name)
                Accessible.name: qsTr("Device to load on")
            }
            Label { text: qsTr("Context (tokens)"); Accessible.name: text }
            SpinBox {
                id: contextBox
                from: 256
                to: Math.max(256, dialog.card.contextLength || 8192)
                stepSize: 256
                editable: true
                Accessible.name: qsTr("Context length in tokens")
            }
            Label { text: qsTr("KV cache"); Accessible.name: text }
            ComboBox {
                id: cacheBox
                model: ["fp16", "q8", "q4"]
                Accessible.name: qsTr("KV cache type")
            }
        }

        MemoryEstimateView {
            Layout.fillWidth: true
            estimate: dialog.estimate
            deviceName: deviceBox.currentText
            onCpu: dialog.device === "cpu"
            requestedCache: cacheBox.currentText
        }
    }
    FontMetrics { id: fm }
}
