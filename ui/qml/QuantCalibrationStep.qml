// Wizard step 3: the calibration text (the built-in set or a text/JSONL file) and how much of it
// the job reads: rows x tokens per row, the rows used to measure the candidate layouts, and the
// device that runs the job.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

ScrollView {
    id: page
    property var wizard: null
    contentWidth: availableWidth
    Accessible.name: qsTr("Calibration")

    ColumnLayout {
        width: page.availableWidth
        spacing: 10

        RadioButton {
            text: qsTr("Built-in set (English prose, code, several languages)")
            checked: page.wizard ? page.wizard.builtinCalibration : true
            onClicked: page.wizard.builtinCalibration = true
            Accessible.name: qsTr("Use the built-in calibration set")
        }
        RowLayout {
            Layout.fillWidth: true
            RadioButton {
                text: qsTr("A file:")
                checked: page.wizard ? !page.wizard.builtinCalibration : false
                onClicked: page.wizard.builtinCalibration = false
                Accessible.name: qsTr("Use a calibration file")
            }
            TextField {
                Layout.fillWidth: true
                text: page.wizard ? page.wizard.calibrationFile : ""
                placeholderText: qsTr("text or JSONL ({\"text\": …}), gzip allowed")
                onEditingFinished: page.wizard.calibrationFile = text
                Accessible.name: qsTr("Calibration file path")
            }
            Button {
                text: qsTr("Choose…")
                onClicked: fileDialog.open()
                Accessible.name: qsTr("Choose a calibration file")
            }
        }
        Label {
            Layout.fillWidth: true
            visible: text.length > 0
            wrapMode: Text.Wrap
            text: page.wizard ? page.wizard.calibrationProblem : ""
            Accessible.name: text
        }

        GridLayout {
            columns: 3
            columnSpacing: 16
            Label { text: qsTr("Rows"); Accessible.name: text }
            SpinBox {
                from: 1; to: 10000; editable: true
                value: page.wizard ? page.wizard.rows : 100
                onValueModified: page.wizard.rows = value
                Accessible.name: qsTr("Calibration rows")
            }
            Label { text: qsTr("default 100"); opacity: 0.7; Accessible.name: text }
            Label { text: qsTr("Tokens per row"); Accessible.name: text }
            SpinBox {
                from: 16; to: 32768; stepSize: 256; editable: true
                value: page.wizard ? page.wizard.length : 2048
                onValueModified: page.wizard.length = value
                Accessible.name: qsTr("Tokens per calibration row")
            }
            Label {
                text: qsTr("default 2048, capped by the model's context")
                opacity: 0.7
                Layout.fillWidth: true
                wrapMode: Text.WordWrap
                Accessible.name: text
            }
            Label { text: qsTr("Measurement rows"); Accessible.name: text }
            SpinBox {
                from: 1; to: 10000; editable: true
                value: page.wizard ? page.wizard.measurementRows : 16
                onValueModified: page.wizard.measurementRows = value
                Accessible.name: qsTr("Rows used to measure candidate layouts")
            }
            Label { text: qsTr("default 16"); opacity: 0.7; Accessible.name: text }
            Label { text: qsTr("Runs on"); Accessible.name: text }
            ComboBox {
                id: deviceBox
                model: page.wizard ? page.wizard.devices : []
                textRole: "label"
                valueRole: "id"
                Layout.preferredWidth: 280
                currentIndex: page.wizard ? Math.max(0, indexOfValue(page.wizard.device)) : 0
                onActivated: page.wizard.device = currentValue
                Accessible.name: qsTr("Device that runs the quantization")
            }
            Label {
                text: qsTr("a GPU is many times faster; the CPU keeps the GPU free for chatting")
                opacity: 0.7
                Layout.fillWidth: true
                wrapMode: Text.WordWrap
                Accessible.name: text
            }
        }
    }

    FileDialog {
        id: fileDialog
        title: qsTr("Choose a calibration file")
        nameFilters: [qsTr("Text or JSONL (*.txt *.jsonl *.gz)"), qsTr("All files (*)")]
        onAccepted: page.wizard.calibrationFile = selectedFile.toString()
    }
}
