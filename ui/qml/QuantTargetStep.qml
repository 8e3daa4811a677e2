// Wizard step 2: bits per weight (2.0-8.0) and head bits, presets, and what they give: the
// predicted file size and the memory to run it at a chosen context and KV cache type per device.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ScrollView {
    id: page
    property var wizard: null
    contentWidth: availableWidth
    Accessible.name: qsTr("Target size")

    ColumnLayout {
        width: page.availableWidth
        spacing: 10

        RowLayout {
            spacing: 8
            Label { text: qsTr("Presets"); Accessible.name: text }
            Repeater {
                model: page.wizard ? page.wizard.presets : []
                delegate: Button {
                    required property var modelData
                    text: qsTr("%1 (%2 bpw)").arg(modelData.label).arg(Number(modelData.bits).toFixed(1))
                    checkable: true
                    checked: page.wizard && page.wizard.presetName === modelData.name
                    highlighted: checked
                    Accessible.name: qsTr("Preset %1: %2 bits per weight").arg(modelData.label).arg(modelData.bits)
                    onClicked: page.wizard.applyPreset(modelData.name)
                }
            }
        }

        RowLayout {
            Layout.fillWidth: true
            spacing: 8
            Label { text: qsTr("Bits per weight"); Accessible.name: text }
            Slider {
                id: bitsSlider
                Layout.fillWidth: true
                from: 2.0
                to: 8.0
                stepSize: 0.05
                snapMode: Slider.SnapAlways
                value: page.wizard ? page.wizard.bits : 4.0
                onMoved: page.wizard.bits = value
                Accessible.name: qsTr("Target bits per weight")
            }
            Label {
                text: page.wizard ? Number(page.wizard.bits).toFixed(2) : ""
                font.bold: true
                Layout.preferredWidth: fm.averageCharacterWidth * 6
                Accessible.name: qsTr("%1 bits per weight").arg(text)
            }
        }

        GridLayout {
            columns: 2
            columnSpacing: 16
            Label { text: qsTr("Output head bits"); Accessible.name: text }
            ComboBox {
                model: [2, 3, 4, 5, 6, 8]
                currentIndex: page.wizard ? Math.max(0, model.indexOf(page.wizard.headBits)) : 4
                onActivated: page.wizard.headBits = model[currentIndex]
                Accessible.name: qsTr("Bits of the output head")
            }
            Label { text: qsTr("Context for the estimate"); Accessible.name: text }
            SpinBox {
                from: 256
                to: 131072
                stepSize: 1024
                editable: true
                value: page.wizard ? page.wizard.context : 8192
                onValueModified: page.wizard.context = value
                Accessible.name: qsTr("Context length in tokens for the memory estimate")
            }
            Label { text: qsTr("KV cache"); Accessible.name: text }
            ComboBox {
                model: ["fp16", "q8", "q4"]
                currentIndex: page.wizard ? Math.max(0, model.indexOf(page.wizard.cacheType)) : 0
                onActivated: page.wizard.cacheType = model[currentIndex]
                Accessible.name: qsTr("KV cache type for the memory estimate")
            }
        }

        MenuSeparator { Layout.fillWidth: true }

        Label {
            text: page.wizard && page.wizard.predictedSizeText ? qsTr("Predicted size: %1").arg(page.wizard.predictedSizeText) : ""
            font.bold: true
            Accessible.name: text
        }
        Repeater {
            model: page.wizard ? page.wizard.memoryPlan : []
            delegate: Label {
                required property var modelData
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                text: (modelData.fits ? "✓ " : "✗ ") + modelData.text
                      + qsTr("  (weights %1, KV cache %2, buffers %3)").arg(modelData.weightsText).arg(modelData.kvCacheText).arg(modelData.buffersText)
                Accessible.name: text
            }
        }
    }
    FontMetrics { id: fm }
}
